"""Reading a request body: bounded in size, decoded by its Content-Type."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.settings import MAX_BODY_BYTES
from smtp_profile.wire.body import (
    FORM_MEDIA_TYPE,
    is_json_media_type,
    media_type,
    parse_form,
    parse_json_object,
)


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    too_large = DomainError(ErrorKind.BODY_TOO_LARGE,
                            f"The body is larger than the limit of {limit // 1024} KiB.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() \
            and (len(declared) > 12 or int(declared) > limit):
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_object(request: Request, *, allow_form: bool = False,
                      allow_empty: bool = False) -> tuple[dict[str, Any], bool]:
    """The body as a mapping and whether it was a form; refuses other media types."""
    body = await read_limited(request)
    if allow_empty and not body.strip():
        return {}, False
    media = media_type(request.headers.get("content-type"))
    if is_json_media_type(media):
        return parse_json_object(body), False
    if allow_form and media == FORM_MEDIA_TYPE:
        return parse_form(body), True
    accepted = "application/json" + (" or application/x-www-form-urlencoded"
                                      if allow_form else "")
    raise DomainError(
        ErrorKind.UNSUPPORTED_MEDIA_TYPE,
        f"Content-Type {media or '(none)'} is not accepted here; send {accepted}.",
    )
