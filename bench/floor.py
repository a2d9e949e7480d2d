"""The floor GET /SMTP is measured against: the same ASGI server (uvicorn, as `serve`
runs it) answering every request with a constant JSON body of the same size, with no
authentication, no routing and no database.

    python -m bench.floor PORT BODY_FILE
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn

from smtp_profile.server.listener import server_config
from smtp_profile.settings import Settings


def constant_app(body: bytes) -> Any:
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    # The server configuration `smtp-profile serve` runs (its connection guard included),
    # so only the application differs.
    uvicorn.Server(server_config(constant_app(body_file.read_bytes()), Settings(),
                                 host="127.0.0.1", port=port, log_level="warning",
                                 lifespan="off")).run()


if __name__ == "__main__":
    main()
