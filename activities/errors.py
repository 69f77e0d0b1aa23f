"""Sorting the records' errors: transient ones retry, permanent ones do not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import (
    TimeoutError as PoolTimeoutError,
)

from workflows.errors import ErrorType, case_error

TRANSIENT = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
    OSError,
    TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    """A fault of the database's availability (down, restarting, locked, timed out)."""
    if isinstance(error, TRANSIENT):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        name = type(error.orig).__name__ if error.orig is not None else ""
        return "Connection" in name or "CannotConnect" in name or "Shutdown" in name
    return False


@contextmanager
def records_errors() -> Iterator[None]:
    """Let transient faults raise as they are (Temporal retries them with backoff);
    turn a write the records refuse into a non-retryable RecordsRejected.

    Messages name only the error's class: statements and parameters may hold personal
    data and never leave the worker."""
    try:
        yield
    except Exception as error:
        if is_transient(error):
            raise
        if isinstance(error, DBAPIError | LookupError | ValueError | TypeError | KeyError):
            raise case_error(
                ErrorType.RECORDS_REJECTED,
                f"the records refused the step ({type(error).__name__})",
            ) from None
        raise
