"""The one SMTP profile row: load it, replace it atomically, re-seal its secrets."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Executable,
    Insert,
    Select,
    Table,
    bindparam,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.profile import PROFILE_ID, AuthType, Profile, RequestHeader
from smtp_profile.domain.relay_options import TrustBinding
from smtp_profile.domain.secret_reference import SecretReference
from smtp_profile.domain.secrets import Secret
from smtp_profile.domain.stored import ProfileStamp, StoredProfile
from smtp_profile.store.secret_box import SealedSecret, SecretBox
from smtp_profile.store.sqlite_writer import SQLiteWriter
from smtp_profile.store.tables import pam_providers, smtp_profile
from smtp_profile.store.transaction import (
    ConnectionTransaction,
    QueuedTransaction,
    insert_into,
)
from smtp_profile.usecases.memory import LatestByStamp
from smtp_profile.usecases.ports import OnProfileWrite

# AEAD contexts (column names), not secrets.
_PASSWORD_CONTEXT = "smtp_profile.password_sealed"  # noqa: S105
_CLIENT_SECRET_CONTEXT = "smtp_profile.client_secret_sealed"  # noqa: S105
_MAX_ATTEMPTS = 20


_WRITTEN = ("host", "port", "auth_type", "username", "password_sealed", "sender_account",
            "sender_name", "use_ssl", "client_id", "client_secret_sealed", "token_endpoint",
            "scope", "audience", "request_headers", "secret_trust", "secret_references",
            "version", "generation", "updated_at", "updated_by")
# Built once: a statement built per PUT (its values, its cache key) cost as much as the
# round trips it was sent in. The compare-and-swap: the row as `was_*` says it is.
_UPDATE = (
    update(smtp_profile)
    .where(smtp_profile.c.id == PROFILE_ID)
    .where(smtp_profile.c.version == bindparam("was_version"))
    .where(smtp_profile.c.generation == bindparam("was_generation"))
    .values({name: bindparam(f"new_{name}", type_=smtp_profile.c[name].type)
             for name in _WRITTEN})
)
_UPDATE_RETURNING = _UPDATE.returning(smtp_profile.c.id)
_WRITTEN_SET = frozenset(_WRITTEN)


@functools.cache
def _update_then_insert(table: Table, names: tuple[str, ...]) -> Insert:
    """`WITH changed AS (_UPDATE RETURNING id) INSERT INTO table (names) SELECT :row_...
    FROM changed RETURNING 1`: the row goes in if and only if the update landed."""
    return insert(table).from_select(
        list(names),
        select(*(bindparam(f"row_{name}", type_=table.c[name].type).label(name)
                 for name in names)).select_from(_UPDATE_RETURNING.cte("changed")),
    ).returning(literal(1))


def new_generation() -> str:
    return secrets.token_hex(16)


class ProfileRepository:
    def __init__(self, engine: AsyncEngine, box: SecretBox,
                 memory: LatestByStamp[ProfileStamp, StoredProfile] | None = None,
                 writer: SQLiteWriter | None = None) -> None:
        self._engine = engine
        self._writer = writer
        self._box = box
        self._memory: LatestByStamp[ProfileStamp, StoredProfile] = (
            LatestByStamp() if memory is None else memory)  # see usecases/memory.py
        # Writers of one profile go one at a time anyway (SQLite has one writer; on
        # PostgreSQL the row lock queues them). Waiting in the database is slow and
        # unfair: SQLite sleeps in growing steps of up to 100 ms before it looks again,
        # and PostgreSQL holds a pooled connection per waiter. So this process's PUTs
        # queue here, first come first served; other instances' PUTs still queue in
        # the database.
        self._writers = asyncio.Lock()

    async def load(self) -> StoredProfile:
        async with self._engine.connect() as connection:
            return self._remember(await self._load(connection))

    async def load_version(self, stamp: ProfileStamp | None) -> StoredProfile:
        """The profile at `stamp` (just read from the database by the caller): from
        memory when that is the one last seen. Every write changes the generation, at
        random, so the same stamp is the same profile, even after a restore."""
        remembered = None if stamp is None else self.remembered(stamp)
        return remembered if remembered is not None else await self.load()

    def remembered(self, stamp: ProfileStamp) -> StoredProfile | None:
        return self._memory.get(stamp)

    def _remember(self, stored: StoredProfile) -> StoredProfile:
        self._memory.put(stored.stamp, stored)  # the last one read or written
        return stored

    async def replace(
        self,
        build: Callable[[StoredProfile], Profile],
        *,
        actor: str,
        expected_version: int | None = None,
        on_write: OnProfileWrite | None = None,
        known: ProfileStamp | None = None,
    ) -> StoredProfile:
        """Store `build(current)` as one atomic write.

        `build` sees the stored profile it replaces (it may reuse a secret from it). On
        PostgreSQL the row is locked while it is read, so writers queue; on SQLite the
        version column makes the update a compare-and-swap, retried on the newer profile
        if another writer got in between. Either way two PUTs never interleave. With
        `expected_version`, a changed profile is a 412.

        `known`: the stamp the caller just read (its request's snapshot). When the
        profile of that stamp is in memory, it is taken as the one replaced without
        reading the row again: the update is a compare-and-swap on its version and
        generation, on PostgreSQL too, so it only lands if that is still the stored
        profile; otherwise nothing was written and the write starts over with the row
        read (and locked) as above, where If-Match is judged. On SQLite that write,
        the PAM providers' check and the audit record run in one trip to the writer's
        thread (`store/sqlite_writer.py`) instead of a trip per driver call.
        """
        async with self._writers:
            stored = await self._replace_known(build, known, actor=actor,
                                               expected_version=expected_version,
                                               on_write=on_write)
            if stored is None:
                stored = await self._replace(build, actor=actor,
                                             expected_version=expected_version,
                                             on_write=on_write)
        return self._remember(stored)

    async def _replace_known(self, build: Callable[[StoredProfile], Profile],
                             known: ProfileStamp | None, *, actor: str,
                             expected_version: int | None, on_write: OnProfileWrite | None,
                             ) -> StoredProfile | None:
        """The write over the remembered profile of stamp `known`; None when there is
        none, when If-Match names another version (judged on the row, not on memory),
        or when the stored profile is no longer that one (nothing written then)."""
        current = None if known is None else self.remembered(known)
        if current is None or expected_version not in (None, current.version):
            return None
        new = build(current)
        stored = StoredProfile(new, current.version + 1, datetime.now(UTC), actor,
                               new_generation())
        write = self._update(current, stored)
        queued = QueuedTransaction()
        if on_write is not None:
            await on_write(queued, current, stored)
        wanted = _wanted_providers(new)
        if self._writer is not None:
            landed = await self._writer.transaction(
                lambda connection: _write_queued(connection, write, wanted, queued))
        elif not wanted and len(queued.rows) <= 1:
            landed = await self._write_at_once(write, queued)
        else:
            async with self._engine.begin() as connection:
                await _check_providers(connection, new)
                landed = (await connection.execute(_UPDATE, write)).rowcount == 1
                for table, row in queued.rows if landed else ():
                    await connection.execute(insert_into(table), row)
        return stored if landed else None

    async def _write_at_once(self, write: dict[str, Any], queued: QueuedTransaction) -> bool:
        """PostgreSQL: the compare-and-swap and the queued row (the audit record) as one
        statement, `WITH changed AS (UPDATE ... RETURNING id) INSERT ... SELECT ... FROM
        changed`, atomic by itself: sent without BEGIN and COMMIT (autocommit), it is
        one round trip to the server (after the pool's ping) instead of four. The row
        goes in only if the update landed; if the row fails, so does the update."""
        statement: Executable = _UPDATE_RETURNING
        parameters = write
        if queued.rows:
            [(table, row)] = queued.rows
            statement = _update_then_insert(table, tuple(row))
            parameters = {**write, **{f"row_{name}": value for name, value in row.items()}}
        async with self._engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            # Rows counted from RETURNING: the driver reports no rowcount for this form.
            return len((await autocommit.execute(statement, parameters)).all()) == 1

    async def _replace(self, build: Callable[[StoredProfile], Profile], *, actor: str,
                       expected_version: int | None, on_write: OnProfileWrite | None,
                       ) -> StoredProfile:
        for _ in range(_MAX_ATTEMPTS):
            async with self._engine.begin() as connection:
                current = await self._load(connection, for_update=True)
                if expected_version is not None and current.version != expected_version:
                    raise DomainError(
                        ErrorKind.PRECONDITION_FAILED,
                        "The SMTP profile changed since it was read (If-Match does not "
                        "match); GET it again and resend your change.",
                    )
                new = build(current)
                await _check_providers(connection, new)
                stored = StoredProfile(new, current.version + 1, datetime.now(UTC), actor,
                                       new_generation())
                result = await connection.execute(_UPDATE, self._update(current, stored))
                if result.rowcount == 1:
                    if on_write is not None:
                        await on_write(ConnectionTransaction(connection), current, stored)
                    break
        else:
            raise DomainError(ErrorKind.STORE_UNAVAILABLE,
                              "The SMTP profile is being changed by too many writers; retry.")
        return stored

    def _update(self, current: StoredProfile, stored: StoredProfile) -> dict[str, Any]:
        """The parameters of `_UPDATE` writing `stored` over `current`."""
        values = {**self._row(stored.profile), "version": stored.version,
                  "generation": stored.generation, "updated_at": stored.updated_at,
                  "updated_by": stored.updated_by}
        if values.keys() != _WRITTEN_SET:  # a column added to _row but not to _WRITTEN
            raise RuntimeError(f"_WRITTEN does not match the row: {sorted(values)}")
        return {"was_version": current.version, "was_generation": current.generation,
                **{f"new_{name}": value for name, value in values.items()}}

    async def reseal(self, new_box: SecretBox) -> int:
        """Re-encrypt the stored secrets under `new_box`; returns how many were sealed.

        One write of the profile like a PUT's: the row locked while it is read
        (PostgreSQL), the update a compare-and-swap on version and generation (SQLite),
        both bumped. A PUT racing it therefore either commits first and has its own
        secret re-sealed, or waits and replaces the re-sealed row whole: never the old
        password left bound to the PUT's new host.
        """
        async with self._writers:
            for _ in range(_MAX_ATTEMPTS):
                async with self._engine.begin() as connection:
                    row = (await connection.execute(
                        select(smtp_profile.c.version, smtp_profile.c.generation,
                               smtp_profile.c.password_sealed,
                               smtp_profile.c.client_secret_sealed)
                        .where(smtp_profile.c.id == PROFILE_ID).with_for_update()
                    )).one()
                    values: dict[str, bytes] = {}
                    for column, context, sealed in (
                        ("password_sealed", _PASSWORD_CONTEXT, row.password_sealed),
                        ("client_secret_sealed", _CLIENT_SECRET_CONTEXT,
                         row.client_secret_sealed),
                    ):
                        if sealed is not None:
                            values[column] = new_box.seal(self._box.open(sealed, context),
                                                          context)
                    result = await connection.execute(
                        update(smtp_profile).where(smtp_profile.c.id == PROFILE_ID)
                        .where(smtp_profile.c.version == row.version)
                        .where(smtp_profile.c.generation == row.generation)
                        .values(**values, version=row.version + 1,
                                generation=new_generation())
                    )
                    if result.rowcount == 1:
                        return len(values)
        raise DomainError(ErrorKind.STORE_UNAVAILABLE,
                          "The SMTP profile is being changed by too many writers; retry.")

    async def _load(self, connection: AsyncConnection, *,
                    for_update: bool = False) -> StoredProfile:
        statement = select(smtp_profile).where(smtp_profile.c.id == PROFILE_ID)
        if for_update:  # SELECT ... FOR UPDATE; SQLAlchemy omits it where unsupported
            statement = statement.with_for_update()
        row = (await connection.execute(statement)).one()
        return StoredProfile(self._profile(row._mapping), row.version, row.updated_at,
                             row.updated_by, row.generation)

    def _open(self, sealed: bytes | None, context: str, field: str) -> Secret | None:
        """The key is checked now, the value opened at its first use (`SealedSecret`)."""
        return None if sealed is None else SealedSecret(self._box, sealed, context, field)

    def _seal(self, secret: Secret | None, context: str) -> bytes | None:
        return None if secret is None else self._box.seal(secret.reveal(), context)

    def _profile(self, row: Any) -> Profile:
        headers = row["request_headers"]
        references = _references_from_json(row["secret_references"])
        return Profile(
            id=row["id"],
            host=row["host"],
            port=row["port"],
            auth_type=AuthType(row["auth_type"]),
            username=row["username"],
            password=self._open(row["password_sealed"], _PASSWORD_CONTEXT,
                                "the stored RelayPassword"),
            sender_account=row["sender_account"],
            sender_name=row["sender_name"],
            use_ssl=bool(row["use_ssl"]),
            client_id=row["client_id"],
            client_secret=self._open(row["client_secret_sealed"], _CLIENT_SECRET_CONTEXT,
                                     "the stored ClientSecret"),
            token_endpoint=row["token_endpoint"],
            scope=row["scope"],
            audience=row["audience"],
            request_headers=None if headers is None else tuple(
                RequestHeader(name=h["Name"], value=h["Value"]) for h in headers
            ),
            secret_trust=TrustBinding.from_json(row["secret_trust"]),
            username_ref=references.get("username_ref"),
            password_ref=references.get("password_ref"),
            client_id_ref=references.get("client_id_ref"),
            client_secret_ref=references.get("client_secret_ref"),
        )

    def _row(self, profile: Profile) -> dict[str, Any]:
        headers = profile.request_headers
        return {
            "host": profile.host,
            "port": profile.port,
            "auth_type": int(profile.auth_type),
            "username": profile.username,
            "password_sealed": self._seal(profile.password, _PASSWORD_CONTEXT),
            "sender_account": profile.sender_account,
            "sender_name": profile.sender_name,
            "use_ssl": profile.use_ssl,
            "client_id": profile.client_id,
            "client_secret_sealed": self._seal(profile.client_secret, _CLIENT_SECRET_CONTEXT),
            "token_endpoint": profile.token_endpoint,
            "scope": profile.scope,
            "audience": profile.audience,
            "request_headers": None if headers is None else [
                {"Name": h.name, "Value": h.value} for h in headers
            ],
            "secret_trust": None if profile.secret_trust is None
            else profile.secret_trust.to_json(),
            "secret_references": references_to_json(profile),
        }


_REFERENCE_FIELDS = (("RelayUsername", "username_ref"), ("RelayPassword", "password_ref"),
                     ("ClientId", "client_id_ref"), ("ClientSecret", "client_secret_ref"))


def references_to_json(profile: Profile) -> dict[str, Any] | None:
    """The profile's PAM references as stored: provider Id and parameters, no value."""
    stored = {name: {"Provider": ref.provider_id, "Parameters": ref.parameter_map}
              for name, ref in profile.references.items()}
    return stored or None


def _references_from_json(data: Any) -> dict[str, SecretReference | None]:
    found: dict[str, SecretReference | None] = {}
    for name, attribute in _REFERENCE_FIELDS:
        item = (data or {}).get(name)
        found[attribute] = None if item is None else SecretReference.of(
            int(item["Provider"]), {str(k): str(v) for k, v in item["Parameters"].items()})
    return found


def _wanted_providers(profile: Profile) -> list[int]:
    return sorted({ref.provider_id for ref in profile.references.values()})


def _providers_statement(wanted: list[int]) -> Select[int]:
    return (select(pam_providers.c.id).where(pam_providers.c.id.in_(wanted))
            .with_for_update(read=True))


def _refuse_missing(wanted: list[int], found: set[int]) -> None:
    missing = sorted(set(wanted) - found)
    if missing:
        raise DomainError(ErrorKind.VALIDATION,
                          "No PAM provider has the Id " + ", ".join(map(str, missing))
                          + ": see GET /PamProviders")


async def _check_providers(connection: AsyncConnection, profile: Profile) -> None:
    """Every provider the new profile names exists, checked (and on PostgreSQL locked
    against deletion) in the write's own transaction: a provider removed meanwhile is
    a refusal, never a dangling reference."""
    wanted = _wanted_providers(profile)
    if wanted:
        found = set((await connection.execute(_providers_statement(wanted))).scalars())
        _refuse_missing(wanted, found)


def _write_queued(connection: Connection, write: dict[str, Any], wanted: list[int],
                  queued: QueuedTransaction) -> bool:
    """In the writer's thread, inside its transaction: the providers' check, the
    compare-and-swap `write`, then the queued rows (the audit record). False, and
    nothing written, when the compare-and-swap found another profile."""
    if wanted:
        _refuse_missing(wanted, set(connection.execute(_providers_statement(wanted)).scalars()))
    if connection.execute(_UPDATE, write).rowcount != 1:
        return False
    for table, row in queued.rows:
        connection.execute(insert_into(table), row)
    return True
