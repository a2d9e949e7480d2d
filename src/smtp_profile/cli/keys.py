"""`smtp-profile new-key` and `rotate-key`: the key that seals secrets at rest."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from smtp_profile.cli.app import app
from smtp_profile.cli.options import DatabaseUrl, DataDir, fail, settings_for
from smtp_profile.domain.errors import DomainError
from smtp_profile.store.secret_box import (
    KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
    SecretBox,
    SecretKeyError,
    decode_key,
    encode_key,
    load_keys,
    new_key,
    write_key_file,
)

if TYPE_CHECKING:  # the engine's modules load only when a command needs them
    from sqlalchemy.ext.asyncio import AsyncEngine


async def reseal_secrets(engine: AsyncEngine, ring: list[bytes], fresh: bytes) -> int:
    """Re-seal the stored secrets under `fresh`, as one write. They open with `ring` or
    with `fresh` itself: a running service seals under the next key file's key as soon as
    it sees it, so a PUT racing the rotation may already have used it."""
    from smtp_profile.store.client_certificates import ClientCertificateRepository
    from smtp_profile.store.oauth_credential import OAuthCredentialRepository
    from smtp_profile.store.pam_providers import PamProviderRepository
    from smtp_profile.store.profiles import ProfileRepository
    from smtp_profile.store.service_accounts import ServiceAccountRepository

    old, new = SecretBox([*ring, fresh]), SecretBox([fresh])
    count = await ProfileRepository(engine, old).reseal(new)
    count += await OAuthCredentialRepository(engine, old).reseal(new)
    count += await ClientCertificateRepository(engine, old).reseal(new)
    count += await PamProviderRepository(engine, old).reseal(new)
    return count + await ServiceAccountRepository(engine, old).reseal(new)


@app.command("new-key")
def new_key_command() -> None:
    """Print a new random key for SMTP_PROFILE_SECRET_KEY (base64, 32 bytes).

    Example: smtp-profile new-key > /etc/smtp-profile/key && chmod 600 /etc/smtp-profile/key
    """
    typer.echo(encode_key(new_key()))


@app.command("rotate-key")
def rotate_key(
    new_key_stdin: Annotated[bool, typer.Option(
        "--new-key-stdin",
        help="With SMTP_PROFILE_SECRET_KEY: read the new key (base64) from standard input.",
    )] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Re-encrypt every stored secret under a new key.

    With the key file (the default) a new key file replaces the old one. With
    SMTP_PROFILE_SECRET_KEY, pass the new key on stdin and then set the variable to it.

    Example: smtp-profile rotate-key --data-dir /var/lib/smtp-profile
    """
    from smtp_profile.runtime import prepare
    from smtp_profile.store.database import create_engine_for

    settings = settings_for(data_dir, database_url)
    data_dir = settings.data_dir
    try:
        prepare(settings)
        ring = load_keys(data_dir, settings.secret_key, create=False)
        next_path = data_dir / NEXT_KEY_FILE_NAME
        if settings.secret_key:
            if not new_key_stdin:
                raise fail("SMTP_PROFILE_SECRET_KEY is set: pass the new key with "
                            "--new-key-stdin (make one with `smtp-profile new-key`)")
            fresh = decode_key(sys.stdin.readline(), source="the new key on stdin")
        elif len(ring) > 1:
            fresh = ring[1]  # finish a rotation that was interrupted
        else:
            fresh = new_key()
            write_key_file(next_path, fresh)
    except SecretKeyError as exc:
        raise fail(str(exc)) from None

    async def reseal() -> int:
        engine = create_engine_for(settings.resolved_database_url,
                                   synchronous=settings.sqlite_synchronous)
        try:
            return await reseal_secrets(engine, ring, fresh)
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(reseal())
    except (SecretKeyError, DomainError) as exc:
        raise fail(str(exc)) from None
    if settings.secret_key:
        typer.echo(f"re-encrypted {count} secret(s); now set SMTP_PROFILE_SECRET_KEY to the "
                   "new key and restart the service")
        return
    os.replace(next_path, data_dir / KEY_FILE_NAME)
    typer.echo(f"re-encrypted {count} secret(s) under a new key in {data_dir / KEY_FILE_NAME}; "
               "restart running instances")
