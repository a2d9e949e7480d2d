"""`smtp-profile audit`: print the audit trail from the data dir or database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer

from smtp_profile.cli.app import app
from smtp_profile.cli.options import DatabaseUrl, DataDir, fail, settings_for


@app.command("audit")
def audit_command(
    since: Annotated[str | None, typer.Option(
        "--since", help="Only records at or after this time: ISO 8601 (UTC unless an offset "
        "is given) or an age such as 30m, 24h, 7d.",
    )] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="Only records before this time (same forms as --since).",
    )] = None,
    action: Annotated[list[str] | None, typer.Option(
        "--action", "-a", help="Only this action (Put, Test, Diagnose, Options, "
        "FailedAuthentication); repeatable.",
    )] = None,
    limit: Annotated[int, typer.Option(
        "--limit", min=1, max=100_000, help="At most this many records, newest first.",
    )] = 100,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the records as JSON, in the shape GET /SMTP/Audit returns.",
    )] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the audit trail (PUTs, Tests, failed sign-ins), newest first.

    Example: smtp-profile audit --since 7d --action Put --data-dir /var/lib/smtp-profile
    """
    from smtp_profile.cli.audit_table import render_json, render_table
    from smtp_profile.domain.audit import (
        AuditQuery,
        AuditRecord,
        parse_time,
        validated_actions,
    )
    from smtp_profile.runtime import ensure_data_dir
    from smtp_profile.store.audit import AuditRepository
    from smtp_profile.store.database import create_engine_for, migrate

    settings = settings_for(data_dir, database_url)
    now = datetime.now(UTC)
    try:
        query = AuditQuery(
            actions=validated_actions(action or []),
            since=None if since is None else parse_time(since, now=now, name="--since"),
            until=None if until is None else parse_time(until, now=now, name="--until"),
            limit=limit,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None

    async def read() -> list[AuditRecord]:
        engine = create_engine_for(settings.resolved_database_url,
                                   synchronous=settings.sqlite_synchronous)
        try:
            return (await AuditRepository(engine).list(query)).records
        finally:
            await engine.dispose()

    if settings.database_url is None:
        ensure_data_dir(settings.data_dir)
    migrate(settings.resolved_database_url)
    records = asyncio.run(read())
    if as_json:
        typer.echo(render_json(records))
    elif not records:
        typer.echo("no audit records")
    else:
        typer.echo(render_table(records))
