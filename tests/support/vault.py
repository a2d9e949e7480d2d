"""A loopback stand-in for HashiCorp Vault's HTTP API, as much of it as a KV v2 reader uses.

Vault itself cannot be installed on these machines, so this answers the documented calls
the way Vault does (https://developer.hashicorp.com/vault/api-docs):

- `GET /v1/<mount>/data/<path>` (KV v2 read): 200 with `{"data": {"data": {...},
  "metadata": {...}}, ...}`; 404 `{"errors": []}` for no secret; 404 with the metadata
  (`deletion_time` set, or `destroyed`) and `"data": null` when the current version was
  deleted or destroyed; 404 `{"errors": ["no handler for route ..."]}` for a mount that
  does not exist.
- `POST /v1/auth/<mount>/login` (AppRole): 200 with `auth.client_token` and
  `auth.lease_duration`; 400 `{"errors": ["invalid role or secret ID"]}`.
- `GET /v1/auth/token/lookup-self`: 200 with the token's data; 403 for a bad token.
- 403 for a missing, unknown or revoked token, in the multierror-wrapped form of current
  Vault versions (`"2 errors occurred:\\n\\t* permission denied\\n\\t* invalid token\\n\\n"`)
  or, with `legacy_denials`, the bare `"permission denied"` of older ones; 403
  `"1 error occurred:\\n\\t* permission denied\\n\\n"` for a valid token whose policy does
  not cover the path.
- Namespaces: `X-Vault-Namespace` selects the namespace; secrets, AppRoles and tokens
  belong to one, and a token used in another namespace is unknown there (403).
- `echo_token`: a 403 that repeats the token sent (no Vault does; a plugin or a proxy
  in front might), to prove the client cuts it out.
- 503 `{"errors": ["Vault is sealed"]}` when sealed; 307 to `redirect_to` (a standby
  node sending clients to the active one).

`stall` makes requests hang (until released), for timeouts. Every request is recorded.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass
class VaultCall:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Token:
    namespace: str
    readable: set[tuple[str, str]] | None  # (mount, path) it may read; None: everything
    ttl: int = 0


@dataclass
class Role:
    namespace: str
    role_id: str
    secret_id: str
    readable: set[tuple[str, str]] | None
    ttl: int = 3600


@dataclass
class KvSecret:
    data: dict[str, Any] | None
    version: int = 1
    deleted: bool = False
    destroyed: bool = False


def _wrapped(*messages: str) -> str:
    """How go-multierror, which Vault uses, words a list of errors."""
    count = len(messages)
    noun = "error" if count == 1 else "errors"
    return f"{count} {noun} occurred:\n" + "".join(f"\t* {m}\n" for m in messages) + "\n"


@dataclass
class VaultState:
    """What the stand-in holds; tests change it between requests."""

    mounts: dict[tuple[str, str], dict[str, KvSecret]] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)  # by role_id
    sealed: bool = False
    legacy_denials: bool = False
    echo_token: bool = False  # a plugin or proxy that repeats the token in its error
    redirect_to: str | None = None  # a performance standby sending clients to the active node
    logins: int = 0

    def put(self, mount: str, path: str, data: dict[str, Any] | None,
            namespace: str = "") -> None:
        store = self.mounts.setdefault((namespace, mount), {})
        old = store.get(path)
        store[path] = KvSecret(data, version=old.version + 1 if old else 1)

    def token(self, readable: set[tuple[str, str]] | None = None, namespace: str = "",
              ttl: int = 0) -> str:
        value = "hvs." + secrets.token_urlsafe(18)
        self.tokens[value] = Token(namespace, readable, ttl)
        return value

    def revoke_all(self) -> None:
        """Every token ends (as when their leases run out)."""
        self.tokens.clear()


class VaultStandIn:
    """Serves `VaultState` on 127.0.0.1 (https with `tls`)."""

    def __init__(self, state: VaultState, tls: ssl.SSLContext | None = None,
                 port: int = 0) -> None:
        self.state = state
        self.calls: list[VaultCall] = []
        self.stall = threading.Event()
        self.release = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests assert on `calls`."""

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                call = VaultCall(self.command, self.path,
                                 {k.lower(): v for k, v in self.headers.items()}, body)
                stand_in.calls.append(call)
                if stand_in.stall.is_set():
                    stand_in.release.wait(30)
                status, payload = stand_in.answer(call)
                if status == 307:  # Vault's standby redirect: a Location, no body
                    self.send_response(status)
                    self.send_header("Location", payload["Location"])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port: int = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    # --- Vault's answers --------------------------------------------------------------

    def answer(self, call: VaultCall) -> tuple[int, dict[str, Any]]:
        state = self.state
        if state.sealed:
            return 503, {"errors": ["Vault is sealed"]}
        if state.redirect_to is not None:
            return 307, {"Location": state.redirect_to + call.path}
        namespace = call.headers.get("x-vault-namespace", "").strip("/")
        path = unquote(urlsplit(call.path).path)
        if not path.startswith("/v1/"):
            return 404, {"errors": []}
        route = path[len("/v1/"):]
        if call.method == "POST" and route.startswith("auth/") and route.endswith("/login"):
            return self._login(namespace, call.body)
        token = self._token(call, namespace)
        if token is None and state.echo_token:
            sent = call.headers.get("x-vault-token", "")
            return 403, {"errors": [_wrapped("permission denied", f"invalid token {sent}")]}
        if token is None:
            if state.legacy_denials:
                return 403, {"errors": ["permission denied"]}
            return 403, {"errors": [_wrapped("permission denied", "invalid token")]}
        if call.method == "GET" and route == "auth/token/lookup-self":
            return 200, _envelope({"id": call.headers["x-vault-token"],
                                   "namespace_path": namespace + "/" if namespace else "",
                                   "policies": ["default"], "ttl": token.ttl})
        if call.method == "GET" and "/data/" in route:
            mount, secret_path = route.split("/data/", 1)
            return self._read(namespace, token, mount, secret_path)
        return 405, {"errors": []}

    def _token(self, call: VaultCall, namespace: str) -> Token | None:
        token = self.state.tokens.get(call.headers.get("x-vault-token", ""))
        if token is None or token.namespace != namespace:
            return None
        return token

    def _login(self, namespace: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or not body.get("role_id"):
            return 400, {"errors": ["missing role_id"]}
        role = self.state.roles.get(body["role_id"])
        if role is None or role.namespace != namespace or \
                body.get("secret_id") != role.secret_id:
            return 400, {"errors": ["invalid role or secret ID"]}
        self.state.logins += 1
        client_token = self.state.token(role.readable, namespace, role.ttl)
        return 200, {**_envelope(None), "auth": {
            "client_token": client_token, "accessor": secrets.token_hex(8),
            "policies": ["default", "relay-reader"], "token_policies": ["default"],
            "metadata": {"role_name": "relay"}, "lease_duration": role.ttl,
            "renewable": True, "entity_id": "", "token_type": "service", "orphan": True}}

    def _read(self, namespace: str, token: Token, mount: str,
              secret_path: str) -> tuple[int, dict[str, Any]]:
        if token.readable is not None and (mount, secret_path) not in token.readable:
            return 403, {"errors": [_wrapped("permission denied")]}
        store = self.state.mounts.get((namespace, mount))
        if store is None:
            return 404, {"errors": [f'no handler for route "{mount}/data/{secret_path}". '
                                    "route entry not found."]}
        secret = store.get(secret_path)
        if secret is None:
            return 404, {"errors": []}
        metadata = {"created_time": "2026-12-02T06:00:00.000000Z", "custom_metadata": None,
                    "deletion_time": "2026-12-02T06:30:00.000000Z" if secret.deleted else "",
                    "destroyed": secret.destroyed, "version": secret.version}
        if secret.deleted or secret.destroyed:
            return 404, _envelope({"data": None, "metadata": metadata})
        return 200, _envelope({"data": secret.data, "metadata": metadata})

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _envelope(data: Any) -> dict[str, Any]:
    """Vault's response envelope around `data`."""
    return {"request_id": secrets.token_hex(16), "lease_id": "", "renewable": False,
            "lease_duration": 0, "data": data, "wrap_info": None, "warnings": None,
            "auth": None, "mount_type": "kv"}
