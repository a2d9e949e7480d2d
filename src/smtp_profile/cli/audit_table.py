"""The audit trail for people at a terminal: a table, or the API's JSON records."""

from __future__ import annotations

import json

from smtp_profile.domain.audit import AuditRecord, FieldChange
from smtp_profile.wire.audit import encode_record

_COLUMNS = ("TIME (UTC)", "ACTION", "USER", "CLIENT", "OUTCOME", "DETAILS")


def describe_change(change: FieldChange) -> str:
    if change.secret:
        return f"{change.field}: changed"
    return f"{change.field}: {json.dumps(change.old)} -> {json.dumps(change.new)}"


def details(record: AuditRecord) -> str:
    parts: list[str] = []
    if record.profile_version is not None:
        parts.append(f"version {record.profile_version}")
    parts += [describe_change(c) for c in record.changes]
    if record.detail:
        parts.append(record.detail)
    if record.outcome.message:
        parts.append(record.outcome.message)
    return "; ".join(parts)


def render_table(records: list[AuditRecord]) -> str:
    rows = [
        (
            r.at.strftime("%Y-%m-%d %H:%M:%S"),
            r.action,
            r.user or "-",
            r.client or "-",
            "ok" if r.outcome.success else (r.outcome.error_code or "failed"),
            details(r),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for row in [_COLUMNS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def render_json(records: list[AuditRecord]) -> str:
    return json.dumps([encode_record(r) for r in records], indent=2, ensure_ascii=False)
