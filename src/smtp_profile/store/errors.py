"""Database errors, translated where they happen: in the store, not in the HTTP layer.

A database that cannot be reached or written (a restarted PostgreSQL, a full disk, a
read-only file, a lock held too long) is the operator's to fix and the client's to
retry: `StoreUnavailable`, a 503 with Retry-After. A write the database refuses as
inconsistent (a constraint, a value out of the column's range) is never that: either
the store's own validation let a bad value through, which is a bug the log must show, or
it is a conflict the caller handles (`StoreConflict`, such as a user added twice). Those
become `StoreFault`, answered as the internal error it is, never as "the database is
unavailable".

The exceptions are the ports' (`usecases/ports.py`), so the use cases can tell them apart
without knowing the database. The translation is a `handle_error` hook on each engine
the service writes through, so no caller sees SQLAlchemy's exceptions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import ExceptionContext
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from smtp_profile.usecases.ports import StoreConflict, StoreFault, StoreUnavailable

log = logging.getLogger(__name__)

# Errors that say the statement itself is wrong; anything else a driver raises
# (OperationalError, InterfaceError, InternalError, a lost connection) is the database's
# state, worth retrying. Named by the DB-API class names so both drivers match.
_STATEMENT_ERRORS = frozenset({"IntegrityError", "DataError", "ProgrammingError",
                               "NotSupportedError"})
# SQLite raises OperationalError for nearly everything; its primary result codes tell
# a wrong statement (ERROR: no such column, syntax; TOOBIG, CONSTRAINT, MISMATCH, RANGE)
# from the database's state (BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, ...).
_SQLITE_STATEMENT_CODES = frozenset({1, 18, 19, 20, 25})


def _cause(exc: DBAPIError) -> str:
    original = exc.orig
    return type(original).__name__ if original is not None else type(exc).__name__


def _translate(context: ExceptionContext) -> BaseException | None:
    exc = context.sqlalchemy_exception
    if context.is_pre_ping or not isinstance(exc, DBAPIError):
        return None  # the pool's pre-ping decides about reconnecting by itself
    if exc.connection_invalidated or context.is_disconnect:
        return StoreUnavailable(_cause(exc))
    names = {type(exc).__name__, type(exc.orig).__name__}
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int) and sqlite_code & 0xFF in _SQLITE_STATEMENT_CODES:
        names.add("ProgrammingError")
    if isinstance(exc, IntegrityError):
        return StoreConflict(f"the database refused a write: {_cause(exc)}")
    if names & _STATEMENT_ERRORS:
        log.error("the database refused a statement (%s): a defect, not an outage",
                  _cause(exc))
        return StoreFault(f"the database refused a statement: {_cause(exc)}")
    return StoreUnavailable(_cause(exc))


def translate_errors(engine: Engine) -> None:
    """Raise this module's exceptions, not SQLAlchemy's, from `engine` (for an async
    engine, pass its `sync_engine`)."""
    event.listen(engine, "handle_error", _translate)


@contextlib.contextmanager
def as_store_failures() -> Iterator[None]:
    """The few SQLAlchemy errors no statement raises, so the hook never sees them (the
    pool timing out, a connection lost before use: unavailable; anything else: a
    fault), as the ports' failures too. For the store methods the periodic upkeep runs,
    which must tell a passing failure from a defect without knowing SQLAlchemy."""
    try:
        yield
    except (PoolTimeout, DisconnectionError) as exc:
        raise StoreUnavailable(type(exc).__name__) from exc
    except SQLAlchemyError as exc:
        raise StoreFault(f"the database layer failed: {type(exc).__name__}") from exc
