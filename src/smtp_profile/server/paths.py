"""Case-insensitive routing, as IIS does: `/keyfactorapi/smtp` reaches `/KeyfactorAPI/SMTP`.

A pure ASGI middleware rewrites a known path to its canonical spelling before routing;
a trailing slash is dropped rather than redirected, because Keyfactor clients do not
follow redirects. A path with parameters (`/KeyfactorAPI/PamProviders/{id}`) matches
its fixed segments case-insensitively and keeps the parameters as sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

_UNRESERVED = "/:@!$&'()*+,;=-._~"
"""What a path may hold unescaped (RFC 3986's pchar and the separator)."""


def _is_parameter(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


class CaseInsensitivePaths:
    def __init__(self, app: ASGIApp, canonical_paths: Iterable[str]) -> None:
        self.app = app
        paths = set(canonical_paths)
        self.canonical = {p.lower(): p for p in paths if "{" not in p}
        # By segment count: each template's segments, a parameter as None.
        self.templates: dict[int, list[list[str | None]]] = {}
        for path in sorted(p for p in paths if "{" in p):
            segments = path.split("/")
            self.templates.setdefault(len(segments), []).append(
                [None if _is_parameter(s) else s for s in segments])

    def canonical_path(self, path: str) -> str | None:
        """The canonical spelling of `path`, or None if it names no known route."""
        trimmed = path.rstrip("/") or "/"
        found = self.canonical.get(trimmed.lower())
        if found is not None or not self.templates:
            return found
        sent = trimmed.split("/")
        for template in self.templates.get(len(sent), ()):
            if all(fixed is None or fixed.lower() == part.lower()
                   for fixed, part in zip(template, sent, strict=True)):
                return "/".join(part if fixed is None else fixed
                                for fixed, part in zip(template, sent, strict=True))
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            canonical = self.canonical_path(path)
            if canonical is not None and canonical != path:
                scope = dict(scope, path=canonical,
                             raw_path=quote(canonical, safe=_UNRESERVED).encode("ascii"))
        await self.app(scope, receive, send)
