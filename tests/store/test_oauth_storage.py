"""A type-3 profile at its size limits survives the real databases: SQLite and PostgreSQL.

The columns exist since revision 0001; this proves the domain's limits fit them (VARCHAR
lengths are enforced by PostgreSQL, not SQLite), that RequestHeaders round-trip through
the JSON column in order, and that the client secret is stored sealed only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from smtp_profile.domain.oauth import (
    MAX_AUDIENCE_LENGTH,
    MAX_CLIENT_ID_LENGTH,
    MAX_HEADER_NAME_LENGTH,
    MAX_HEADER_VALUE_LENGTH,
    MAX_REQUEST_HEADERS,
    MAX_SCOPE_LENGTH,
    MAX_TOKEN_ENDPOINT_LENGTH,
    RequestHeader,
)
from smtp_profile.domain.profile import Profile, ProfileDraft, build_profile
from smtp_profile.domain.secrets import Secret
from smtp_profile.settings import async_url
from smtp_profile.store.database import create_engine_for, migrate
from smtp_profile.store.profiles import ProfileRepository
from smtp_profile.store.secret_box import SecretBox, new_key
from smtp_profile.store.tables import smtp_profile

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "Stored-Client-Secret-Canary-0c4e"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    # A database of its own: other test runs may share this PostgreSQL server.
    name = f"smtp_profile_oauth_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc})")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def largest_oauth_profile() -> Profile:
    host = "a" * 54 + ".example"
    endpoint = f"https://{host}/" + "p" * (MAX_TOKEN_ENDPOINT_LENGTH - len(host) - 9)
    headers = tuple(
        RequestHeader(f"X-{i:02d}" + "h" * (MAX_HEADER_NAME_LENGTH - 5),
                      "\u0020~" * (MAX_HEADER_VALUE_LENGTH // 2))
        for i in range(MAX_REQUEST_HEADERS))
    draft = ProfileDraft(
        host="smtp.example.com", port=587, auth_type=3, use_ssl=True,
        sender_account="svc@corp.local", sender_name="KF", username="box@corp.local",
        client_id="c" * MAX_CLIENT_ID_LENGTH, client_secret=Secret(SECRET),
        token_endpoint=endpoint, scope="s" * MAX_SCOPE_LENGTH,
        audience="a" * MAX_AUDIENCE_LENGTH, request_headers=headers)
    return build_profile(draft, Profile())


def test_a_type_3_profile_at_its_limits_round_trips(database_url: str) -> None:
    url = async_url(database_url)
    migrate(url)
    profile = largest_oauth_profile()
    assert profile.token_endpoint is not None
    assert len(profile.token_endpoint) == MAX_TOKEN_ENDPOINT_LENGTH

    async def store_and_load() -> tuple[Profile, bytes | None, tuple[object, ...]]:
        engine = create_engine_for(url)
        try:
            repository = ProfileRepository(engine, SecretBox([new_key()]))
            await repository.replace(lambda _current: profile, actor="test")
            loaded = (await repository.load()).profile
            async with engine.connect() as connection:
                row = (await connection.execute(select(smtp_profile))).one()
            return loaded, row.client_secret_sealed, tuple(row)
        finally:
            await engine.dispose()

    loaded, sealed, row = asyncio.run(store_and_load())
    assert loaded == profile
    assert loaded.client_secret == Secret(SECRET)
    assert sealed is not None and SECRET.encode() not in sealed
    assert all(SECRET not in str(value) for value in row)
