"""Logging for `serve`: one format, and the libraries that would log secrets held quiet.

At DEBUG, httpcore logs every request's and answer's headers (a token endpoint's
redirect `Location`, which can carry a secret, among them), httpx logs every request's
URL, aiosqlite logs every statement with its parameters, and botocore (the AWS Secrets
Manager PAM provider's) logs every request and answer body, a fetched secret among them.
Their loggers are held at
WARNING whatever level the service logs at (which holds their child loggers too, such as
`httpcore.http11`); the service writes its own line for each token request, with nothing
secret in it.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

QUIET = ("httpcore", "httpx", "hpack", "aiosqlite", "botocore", "boto3", "urllib3")
"""Loggers that never log below WARNING: their debug and info lines carry request
headers, URLs, statement parameters or answer bodies."""


def configure_logging(level: str) -> None:
    """Log at `level` (debug, info, warning or error) to standard error."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    # FORMAT names no source file, line, thread or process: not collecting them spares
    # every line a walk up the stack and three look-ups (the logging HOWTO's
    # "Optimization"); a PUT and a Test each write a line.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    quiet_libraries()


def quiet_libraries() -> None:
    """Hold the QUIET loggers at WARNING; `Runtime.open` calls it too, so a service
    embedded elsewhere (or a test at DEBUG) is as quiet as `serve`."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
