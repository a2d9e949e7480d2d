"""An SMTP server that accepts every message and keeps none, in its own process so the
service and the direct sender compete with it equally.

    python -m bench.sink PORT
"""

from __future__ import annotations

import sys
import time
from typing import Any

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK discarded"


def main() -> None:
    controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
