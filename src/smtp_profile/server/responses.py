"""Response helpers: Keyfactor's JSON flavour and its error body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from smtp_profile.domain.errors import ErrorKind


class KeyfactorJSON(JSONResponse):
    """JSON with an explicit UTF-8 charset, as Keyfactor documents its responses."""

    media_type = "application/json; charset=utf-8"


def error_response(kind: ErrorKind, message: str,
                   headers: Mapping[str, str] | None = None) -> KeyfactorJSON:
    body: dict[str, Any] = {"ErrorCode": kind.code, "Message": message}
    return KeyfactorJSON(body, status_code=kind.status, headers=dict(headers or {}))
