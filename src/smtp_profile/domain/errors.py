"""The kinds of error the service reports, with their stable ErrorCodes.

Keyfactor tooling parses `{"ErrorCode": "0x...", "Message": "..."}`; scripts match on the
code, so each kind keeps its code forever. This table is the single source of truth: the
HTTP adapter takes the status from here and docs/errors.md is checked against it by a test.
"""

from __future__ import annotations

from enum import Enum


class ErrorKind(Enum):
    """One kind of failure: its ErrorCode, its HTTP status and what it means."""

    VALIDATION = ("0xA0110001", 400, "A field is missing or invalid; the message names it.")
    MALFORMED_BODY = ("0xA0110002", 400, "The body is not valid JSON or form data.")
    MISSING_REQUESTED_WITH = (
        "0xA0110003",
        400,
        "The x-keyfactor-requested-with header is missing or not APIClient/XMLHttpRequest.",
    )
    BAD_API_VERSION = ("0xA0110004", 400, "x-keyfactor-api-version is not 1, 1.0, 2 or 2.0.")
    UNSUPPORTED_AUTH_TYPE = (
        "0xA0110005",
        400,
        "RelayAuthenticationType is not supported by this service.",
    )
    UNSUPPORTED_SECRET_PROVIDER = (
        "0xA0110006",
        400,
        "A secret refers to a PAM provider where this instance cannot fetch one.",
    )
    SECRET_REENTRY_REQUIRED = (
        "0xA0110007",
        400,
        "The stored secret is bound to the old destination or trust options; send it again.",
    )
    TEST_FAILED = ("0xA0110008", 400, "The test e-mail could not be sent; the message says where.")
    UNAUTHENTICATED = ("0xA0110010", 401, "No or wrong credentials.")
    FORBIDDEN = ("0xA0110011", 403, "The user lacks the permission the route needs.")
    NOT_FOUND = ("0xA0110012", 404, "No such route.")
    METHOD_NOT_ALLOWED = ("0xA0110013", 405, "The route exists but not with this method.")
    PRECONDITION_FAILED = (
        "0xA0110014",
        412,
        "If-Match does not match the stored profile or options.",
    )
    BODY_TOO_LARGE = ("0xA0110015", 413, "The body is larger than 64 KiB.")
    UNSUPPORTED_MEDIA_TYPE = ("0xA0110016", 415, "The Content-Type is not accepted here.")
    TOO_MANY_SIGN_INS = (
        "0xA0110017",
        429,
        "Too many failed sign-ins for this user or address; wait Retry-After seconds.",
    )
    TARGET_REFUSED = (
        "0xA0110018",
        403,
        "Test or Diagnose aimed at a host, port or recipient the operator's policy forbids.",
    )
    RATE_LIMITED = ("0xA0110019", 429, "Too many tests by this user; wait Retry-After seconds.")
    INTERNAL = ("0xA0110020", 500, "An unexpected error; the server log has the details.")
    STORE_UNAVAILABLE = ("0xA0110021", 503, "The database cannot be reached or written.")
    BUSY = (
        "0xA0110022",
        503,
        "Too many tests are running on this instance; wait Retry-After seconds.",
    )
    TOO_MANY_CONNECTIONS = (
        "0xA0110023",
        429,
        "The client's address has too many connections open; close some, or wait "
        "Retry-After seconds.",
    )
    IDENTITY_PROVIDER_UNAVAILABLE = (
        "0xA0110024",
        503,
        "The identity provider's signing keys cannot be fetched, so bearer tokens cannot be "
        "checked; wait Retry-After seconds.",
    )
    PAM_PROVIDER_NOT_FOUND = ("0xA0110030", 404, "No PAM provider has this Id.")
    PAM_PROVIDER_IN_USE = (
        "0xA0110031",
        409,
        "The PAM provider is referred to by the SMTP profile; change the profile first.",
    )
    PAM_PROVIDER_NAME_TAKEN = ("0xA0110032", 409, "Another PAM provider has this Name.")

    def __init__(self, code: str, status: int, meaning: str) -> None:
        self.code = code
        self.status = status
        self.meaning = meaning


class DomainError(Exception):
    """A failure a client can understand and act on; never carries a secret."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def seconds(count: int) -> str:
    """`1 second`, `5 seconds`: for messages that tell a client how long to wait."""
    return f"{count} second" if count == 1 else f"{count} seconds"


class Throttled(DomainError):
    """Refused for `retry_after` more seconds (failed sign-ins, too many tests by a user,
    or too many tests running at once)."""

    def __init__(self, retry_after: int, message: str,
                 kind: ErrorKind = ErrorKind.TOO_MANY_SIGN_INS) -> None:
        super().__init__(kind, message)
        self.retry_after = retry_after


class ValidationFailed(DomainError):
    """One or more fields were refused; each problem names its field."""

    def __init__(self, problems: list[str], kind: ErrorKind = ErrorKind.VALIDATION) -> None:
        super().__init__(kind, "; ".join(problems))
        self.problems = problems
