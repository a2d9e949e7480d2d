"""A real OAuth 2.0 token endpoint for tests: HTTP (or HTTPS) on 127.0.0.1 in a thread.

It checks what an identity provider checks for the client-credentials grant (a form body,
grant_type, client_id and client_secret posted in the body, the expected scope and
audience, required extra headers) and answers like one: a JSON token with an expiry, or
an RFC 6749 error with `error` and `error_description`. Every request is recorded.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote


@dataclass
class TokenCall:
    """One request as the endpoint saw it."""

    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


class RawNumber(str):
    """An expires_in written into the JSON answer as these characters, unquoted."""


@dataclass
class Issuer:
    """What the endpoint expects and issues; tests may change it between requests."""

    client_id: str
    client_secret: str
    scope: str | None = None
    audience: str | None = None
    required_headers: dict[str, str] = field(default_factory=dict)
    # Issued in order; the last one is repeated.
    tokens: list[str] = field(default_factory=lambda: ["access-token-1"])
    expires_in: object = 3600
    token_type: str = "Bearer"
    # Answer every request with this status and raw body instead (misbehaving providers).
    raw_answer: tuple[int, bytes, dict[str, str]] | None = None
    # A provider that echoes a wrong client secret in its error (upper-case, base64,
    # URL-encoded, split by spaces).
    echo: bool = False
    issued: int = 0

    def next_token(self) -> str:
        token = self.tokens[min(self.issued, len(self.tokens) - 1)]
        self.issued += 1
        return token


class TokenEndpoint:
    """Serves `Issuer` at /oauth2/token on 127.0.0.1; `tls` makes it HTTPS."""

    PATH = "/oauth2/token"

    def __init__(self, issuer: Issuer, tls: ssl.SSLContext | None = None) -> None:
        self.issuer = issuer
        self.calls: list[TokenCall] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests assert on `calls`, not on a log."""

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                call = TokenCall(self.path, {k.lower(): v for k, v in self.headers.items()},
                                 parse_qs(body, keep_blank_values=True))
                endpoint.calls.append(call)
                status, payload, extra = endpoint.answer(call)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port: int = self.server.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}{self.PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def answer(self, call: TokenCall) -> tuple[int, bytes, dict[str, str]]:
        issuer = self.issuer
        if issuer.raw_answer is not None:
            return issuer.raw_answer
        if call.path != self.PATH:
            return 404, b"Not Found", {"Content-Type": "text/plain"}
        if not call.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            return _error(400, "invalid_request", "the body must be form-encoded")
        if any(len(values) != 1 for values in call.form.values()):
            return _error(400, "invalid_request", "a parameter was repeated")
        if call.field("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "only client_credentials")
        if "authorization" in call.headers:
            return _error(400, "invalid_request", "use one client authentication method")
        if (call.field("client_id") != issuer.client_id
                or call.field("client_secret") != issuer.client_secret):
            sent = call.field("client_secret") or ""
            if issuer.echo:
                return _error(401, f"invalid_client {sent.upper()}",
                              " ".join(echo_forms(sent)))
            return _error(401, "invalid_client",
                          "AADSTS7000215: Invalid client secret provided.")
        if call.field("scope") != issuer.scope:
            return _error(400, "invalid_scope", f"scope {call.field('scope')!r} is not valid")
        if call.field("audience") != issuer.audience:
            return _error(400, "invalid_request", "unknown audience")
        for name, value in issuer.required_headers.items():
            if call.headers.get(name.lower()) != value:
                return _error(400, "invalid_request", f"header {name} is missing")
        answer: dict[str, object] = {"access_token": issuer.next_token(),
                                     "token_type": issuer.token_type}
        if issuer.expires_in is not None:
            answer["expires_in"] = issuer.expires_in
        body = json.dumps(answer)
        if isinstance(issuer.expires_in, RawNumber):  # written as is, not as a string
            body = body.replace(json.dumps(issuer.expires_in), issuer.expires_in)
        return 200, body.encode(), {"Content-Type": "application/json",
                                    "Cache-Control": "no-store"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _error(status: int, error: str, description: str) -> tuple[int, bytes, dict[str, str]]:
    body = json.dumps({"error": error, "error_description": description}).encode()
    return status, body, {"Content-Type": "application/json"}


def echo_forms(secret: str) -> list[str]:
    """How an echoing identity provider repeats a secret."""
    encoded = base64.b64encode(secret.encode()).decode()
    half = len(secret) // 2
    return [f"secret {secret!r} is wrong;", f"upper {secret.upper()};",
            f"base64 {encoded};", f"url {quote(secret, safe='')};",
            f"split {secret[:half]} {secret[half:]};",
            f"spaced {' '.join(secret)}"]
