"""Headers every answer (or every answer of a kind) carries, whichever route, static file
or error sent it; one pass over the answer's headers, as it is on every request's path.

- Every answer names the Keyfactor Command release it stands in for
  (`x-keyfactor-product-version`, see `server/product_version.py`), replacing any the
  route set.
- Every HTML answer may not be framed (`frame-ancestors 'none'` and `X-Frame-Options:
  DENY`, against clickjacking) and has a Content-Security-Policy: the route's own if it
  set one (the web page and the API reference do; `frame-ancestors 'none'` is added if
  it lacks one), else one that allows nothing at all.
- Every answer over HTTPS carries `Strict-Transport-Security`, so a browser that once
  reached the service over TLS never falls back to clear text.

A pure ASGI middleware, outermost in the framework's stack, so that answers from the
static file mounts and the 500s get the same headers as the routes' answers; the fast GET
path, in front of the framework (server/app.py), completes its answers' headers with
`completed_headers` once per stored answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smtp_profile.server.product_version import PRODUCT_VERSION, PRODUCT_VERSION_HEADER

HTML_CSP = ("default-src 'none'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")
"""For HTML the service does not expect to send (a static .html file): nothing runs."""
HSTS = "max-age=31536000"
"""One year; not includeSubDomains, as the service may share its domain with others."""

_CSP = b"content-security-policy"
_XFO = b"x-frame-options"
_HSTS = b"strict-transport-security"
_VERSION = PRODUCT_VERSION_HEADER.encode()
_VERSION_VALUE = PRODUCT_VERSION.encode()


class AnswerHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = completed_headers(list(message.get("headers", ())),
                                                       https)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def completed_headers(given: list[tuple[bytes, bytes]],
                      https: bool) -> list[tuple[bytes, bytes]]:
    """`given` with the headers every answer carries (over HTTPS: `https`)."""
    headers = [(name, value) for name, value in given if name.lower() != _VERSION]
    headers.append((_VERSION, _VERSION_VALUE))
    names = {name.lower() for name, _ in headers}
    html = any(name.lower() == b"content-type" and value.lower().startswith(b"text/html")
               for name, value in headers)
    if html:
        if _CSP not in names:
            headers.append((_CSP, HTML_CSP.encode()))
        else:
            headers[:] = [(name, _framing_refused(value) if name.lower() == _CSP else value)
                          for name, value in headers]
        if _XFO not in names:
            headers.append((_XFO, b"DENY"))
    if https and _HSTS not in names:
        headers.append((_HSTS, HSTS.encode()))
    return headers


def _framing_refused(policy: bytes) -> bytes:
    if b"frame-ancestors" in policy.lower():
        return policy
    return policy.rstrip(b"; ") + b"; frame-ancestors 'none'"
