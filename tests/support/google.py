"""Google's OAuth 2.0 token endpoint for service accounts, as a loopback test server.

It answers the JWT bearer grant (RFC 7523) the way Google's documentation ("Using OAuth
2.0 for Server to Server Applications") describes: the form carries `grant_type`
urn:ietf:params:oauth:grant-type:jwt-bearer and `assertion`; the assertion must be signed
RS256 by a key the service account has (its `kid`), with `iss` the service account's
e-mail, `aud` the token URI, `iat`/`exp` at most an hour apart and not expired, `scope`
a scope delegated for the domain, `sub` a user of the Workspace domain. Failures come in
Google's shape (`{"error": ..., "error_description": ...}`, HTTP 400 or 401). Nothing is
mocked: the signature is checked with PyJWT against the public key of the key file the
test uploaded. A real Google endpoint cannot exist here (no packet leaves the machine).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GMAIL_SCOPE = "https://mail.google.com/"
MAX_LIFETIME = 3600


@cache
def rsa_key(name: str = "first") -> rsa.RSAPrivateKey:
    """A 2048-bit key per name, made once per test run (key generation takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@dataclass
class GoogleDomain:
    """What Google knows: the service account's keys, its delegation, the domain's users."""

    client_email: str = "mailer@smtp-profile-test.iam.gserviceaccount.com"
    client_id: str = "109876543210987654321"
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    delegated_scopes: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=lambda: {"svc@corp.local"})
    tokens: list[str] = field(default_factory=lambda: ["ya29.google-access-token"])
    issued: int = 0
    # An endpoint that repeats the assertion's signature in its errors (to test redaction).
    echo: bool = False


@dataclass
class GoogleCall:
    form: dict[str, list[str]]
    header: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None


class GoogleTokenEndpoint:
    """Serves the token URI at http://127.0.0.1:<port>/token."""

    PATH = "/token"

    def __init__(self, domain: GoogleDomain) -> None:
        self.domain = domain
        self.calls: list[GoogleCall] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests assert on `calls`."""

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                status, answer = endpoint.answer(self.path, form)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def key_file(self, key: rsa.RSAPrivateKey, key_id: str) -> dict[str, str]:
        """A key file as the Cloud console hands it out; its public key becomes known."""
        self.domain.keys[key_id] = key.public_key()
        return {
            "type": "service_account", "project_id": "smtp-profile-test",
            "private_key_id": key_id, "private_key": private_pem(key),
            "client_email": self.domain.client_email, "client_id": self.domain.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": self.url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    def answer(self, path: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        status, answer = self._answer(path, form)
        if self.domain.echo and "error_description" in answer:
            signature = form.get("assertion", [""])[0].rsplit(".", 1)[-1]
            answer["error_description"] = f"signature {signature} " + answer[
                "error_description"]
        return status, answer

    def _answer(self, path: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        call = GoogleCall(form)
        self.calls.append(call)
        domain = self.domain
        if path != self.PATH:
            return 404, {"error": "not_found"}
        if form.get("grant_type") != [GRANT]:
            return 400, _error("unsupported_grant_type", "Invalid grant_type: "
                               + ",".join(form.get("grant_type", [])))
        [assertion] = form.get("assertion", [""])
        try:
            call.header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return 400, _error("invalid_grant", "Invalid JWT: Failed to parse.")
        public = domain.keys.get(str(call.header.get("kid")))
        if public is None or call.header.get("alg") != "RS256":
            return 400, _error("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(assertion, public, algorithms=["RS256"], audience=self.url,
                                issuer=domain.client_email,
                                options={"require": ["iss", "aud", "iat", "exp", "scope"]})
        except jwt.InvalidSignatureError:
            return 400, _error("invalid_grant", "Invalid JWT Signature.")
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            return 400, _error("invalid_grant", "Invalid JWT: Token must be a short-lived "
                               "token (60 minutes) and in a reasonable timeframe. Check your "
                               "iat and exp values in the JWT claim.")
        except jwt.PyJWTError as exc:
            return 400, _error("invalid_grant", f"Invalid JWT: {exc}")
        call.claims = claims
        if claims["exp"] - claims["iat"] > MAX_LIFETIME:
            return 400, _error("invalid_grant", "Invalid JWT: Token must be a short-lived "
                               "token (60 minutes) and in a reasonable timeframe.")
        if not set(str(claims["scope"]).split()) <= domain.delegated_scopes:
            return 401, _error("unauthorized_client", "Client is unauthorized to retrieve "
                               "access tokens using this method, or client not authorized for "
                               "any of the scopes requested.")
        if claims.get("sub") not in domain.users:
            return 400, _error("invalid_grant", "Invalid email or User ID")
        token = domain.tokens[min(domain.issued, len(domain.tokens) - 1)]
        domain.issued += 1
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _error(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}
