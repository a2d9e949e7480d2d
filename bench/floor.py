"""The floor GET /SMTP is measured against: the same ASGI server (uvicorn, as `serve`
runs it) answering every request with the service's own answer, constant: the same
status, headers and body bytes, with no authentication, no routing and no database. So
the ratio measures only what deciding the answer costs, not sending it (h11's cost
grows with every header it validates and writes: a floor with fewer headers than the
answer the Keyfactor contract requires would be cheaper than any server could be).
It is sent the very requests the service is sent (the bench passes the same headers:
a bearer token is a header of a kilobyte, which h11 parses for both alike).

    python -m bench.floor PORT BODY_FILE [HEADERS_FILE]

HEADERS_FILE: a JSON list of [name, value] pairs, the service's answer's headers but
those uvicorn adds itself (date). Without it: content-type and content-length only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import uvicorn

from smtp_profile.server.listener import server_config
from smtp_profile.settings import Settings


def constant_app(body: bytes, given: list[tuple[bytes, bytes]] | None = None) -> Any:
    headers = given or [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    headers = None
    if len(sys.argv) > 3:
        headers = [(name.encode("latin-1"), value.encode("latin-1"))
                   for name, value in json.loads(Path(sys.argv[3]).read_text())]
    # The server configuration `smtp-profile serve` runs (its connection guard included),
    # so only the application differs.
    uvicorn.Server(server_config(constant_app(body_file.read_bytes(), headers), Settings(),
                                 host="127.0.0.1", port=port, log_level="warning",
                                 lifespan="off")).run()


if __name__ == "__main__":
    main()
