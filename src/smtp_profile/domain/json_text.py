"""JSON held inside a value: a service account key file, a PAM provider's parameters, an
answer from a vault or an identity provider.

`json.loads` raises RecursionError, not ValueError, for nesting deeper than the
interpreter allows; a few kilobytes of brackets do it. Every JSON text that comes from
outside goes through `parse_json`, so such text is refused like any other text that is
not JSON (a 400 for a client's, a clear failure for a server's), never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class NotJson(ValueError):
    """The text is not JSON this service can read."""


def parse_json(text: str | bytes | bytearray,
               object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """`json.loads(text)`; any text it cannot read raises ValueError (NotJson for nesting
    too deep)."""
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except RecursionError:
        raise NotJson("it is nested too deeply") from None
