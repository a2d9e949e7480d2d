"""Case-insensitive routing, as IIS does: `/keyfactorapi/smtp` reaches `/KeyfactorAPI/SMTP`.

A pure ASGI middleware rewrites a known path to its canonical spelling before routing;
a trailing slash is dropped rather than redirected, because Keyfactor clients do not
follow redirects.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send


class CaseInsensitivePaths:
    def __init__(self, app: ASGIApp, canonical_paths: Iterable[str]) -> None:
        self.app = app
        self.canonical = {p.lower(): p for p in canonical_paths}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            key = path.rstrip("/").lower() or "/"
            canonical = self.canonical.get(key)
            if canonical is not None and canonical != path:
                scope = dict(scope, path=canonical, raw_path=canonical.encode("ascii"))
        await self.app(scope, receive, send)
