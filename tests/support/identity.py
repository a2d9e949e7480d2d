"""A stand-in OpenID Connect identity provider on 127.0.0.1 (HTTP, or HTTPS), in a thread.

It answers what a real provider (Keycloak, Entra ID, Okta) publishes for resource
servers: the discovery document at `{issuer}/.well-known/openid-configuration`
(OpenID Connect Discovery 1.0, section 4) naming its `jwks_uri`, and the JWK Set there
(RFC 7517) with the public halves of its signing keys. It signs access tokens with
PyJWT and real keys (cryptography), so the service checks real signatures. Tests rotate
its keys, take it down, and count its requests.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
AUDIENCE = "smtp-profile"
CLIENT = "keyfactor-automation"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: PrivateKey

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public = self.private.public_key()
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(public))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}


def new_key(algorithm: str = "RS256") -> SigningKey:
    private: PrivateKey = (ec.generate_private_key(ec.SECP256R1())
                           if algorithm.startswith("ES")
                           else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return SigningKey(uuid.uuid4().hex[:12], algorithm, private)


@dataclass
class IdentityProvider:
    """The provider's state; tests change it between requests."""

    keys: list[SigningKey] = field(default_factory=lambda: [new_key()])
    down: bool = False
    """Answer 503 to every request (a provider that is down or unreachable)."""
    requests: list[str] = field(default_factory=list)
    issuer: str = ""
    """Set once served: `http://127.0.0.1:PORT/realms/keyfactor`."""

    def token(self, *, key: SigningKey | None = None, algorithm: str | None = None,
              lifetime: float = 300, not_before: float | None = None,
              headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """An access token as the provider issues it, with `claims` over the defaults
        (a claim given as None is left out)."""
        key = key or self.keys[-1]
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer, "aud": AUDIENCE, "sub": "f3b1c2d4-subject",
            "azp": CLIENT, "preferred_username": "svc-keyfactor", "iat": now,
            "exp": now + int(lifetime), "realm_access": {"roles": ["smtp-admin"]},
        }
        if not_before is not None:
            body["nbf"] = int(not_before)
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, key.private, algorithm=algorithm or key.algorithm,
                          headers={"kid": key.kid, **(headers or {})})

    def rotate(self) -> SigningKey:
        """A new signing key replaces the old ones (as Keycloak's key rotation does)."""
        key = new_key()
        self.keys = [key]
        return key

    def jwks_requests(self) -> int:
        return sum(1 for path in self.requests if path.endswith("/certs"))


REALM = "/realms/keyfactor"


class _Handler(BaseHTTPRequestHandler):
    provider: IdentityProvider

    def do_GET(self) -> None:
        provider = self.provider
        provider.requests.append(self.path)
        if provider.down:
            self._answer(503, {"error": "temporarily_unavailable"})
        elif self.path == REALM + "/.well-known/openid-configuration":
            self._answer(200, {
                "issuer": provider.issuer,
                "jwks_uri": provider.issuer + "/protocol/openid-connect/certs",
                "token_endpoint": provider.issuer + "/protocol/openid-connect/token",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            })
        elif self.path == REALM + "/protocol/openid-connect/certs":
            self._answer(200, {"keys": [key.public_jwk() for key in provider.keys]})
        else:
            self._answer(404, {"error": "not_found"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ServedProvider:
    """`provider` served on 127.0.0.1 until `close()`; with `context`, over HTTPS."""

    def __init__(self, provider: IdentityProvider,
                 context: ssl.SSLContext | None = None) -> None:
        handler = type("Handler", (_Handler,), {"provider": provider})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if context is not None else "http"
        host = "localhost" if context is not None else "127.0.0.1"
        provider.issuer = f"{scheme}://{host}:{self.server.server_address[1]}{REALM}"
        self.provider = provider
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
