"""The store's own errors, and the one place where a database driver's errors become them.

Callers above the store never see sqlite3, psycopg or SQLAlchemy exceptions: every public method of
the store runs inside `translated()`, which turns a driver error into `StoreUnavailable` (a fault
of the moment, worth a retry: the database is locked, busy, unreachable) or `StoreFault` (any other
database error). Each backend registers its driver's exception classes as it is imported.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Final, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as SqlAlchemyOperationalError

from ..errors import DomainError


class StoreError(DomainError):
    """A request the store refuses, or a fault of the database behind it."""


class UnknownApp(StoreError):
    def __init__(self, app_id: str) -> None:
        super().__init__(f"no app {app_id!r}")
        self.app_id = app_id


class AppExists(StoreError):
    def __init__(self, app_id: str) -> None:
        super().__init__(f"app {app_id!r} exists already")


class UnsupportedDatabase(StoreError):
    """A database URL no backend serves."""


class SchemaNotCurrent(StoreError):
    """The database's schema is older than this version's: `cdrstore db upgrade` brings it up."""


class RetentionFailed(StoreError):
    """Retention stopped part-way; the message says where, and that a new run carries on."""


class StoreUnavailable(StoreError):
    """The database cannot answer now (locked, busy, unreachable): worth trying again."""

    def __init__(self, detail: str) -> None:
        super().__init__("database unavailable, try again later")
        self.detail = detail  # for logs and operators: the driver's error, never for clients


class StoreFault(StoreError):
    """Any other database error."""

    def __init__(self, detail: str) -> None:
        super().__init__("database error")
        self.detail = detail


# (any error of the driver, its "operational" errors): registered by each backend's module.
_DRIVERS: list[tuple[type[Exception], type[Exception]]] = [(DBAPIError, SqlAlchemyOperationalError)]
# A fault of the moment: words of the drivers' messages, whole words only ("locked" is not
# "blocked").
_UNAVAILABLE: Final = re.compile(
    r"\b(locked|busy|unable to open|connection|disk i/o|deadlock detected)\b", re.IGNORECASE
)


def register_driver(error: type[Exception], operational: type[Exception]) -> None:
    if (error, operational) not in _DRIVERS:
        _DRIVERS.append((error, operational))


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def store_error_for(exc: Exception) -> StoreError | None:
    """The store error a driver's exception stands for; None if it is not a driver's."""
    if not any(isinstance(exc, error) for error, _ in _DRIVERS):
        return None
    cause: BaseException = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return StoreUnavailable(_detail(exc))
        cause = exc.orig if isinstance(exc.orig, Exception) else exc
    operational = any(isinstance(cause, op) for _, op in _DRIVERS) or isinstance(
        exc, SqlAlchemyOperationalError
    )
    if operational and _UNAVAILABLE.search(str(cause)):
        return StoreUnavailable(_detail(cause))
    return StoreFault(_detail(cause))


@contextmanager
def translated() -> Iterator[None]:
    """Let store errors and foreign errors through; turn a driver's error into a store error."""
    try:
        yield
    except Exception as exc:
        error = store_error_for(exc)
        if error is None:
            raise
        raise error from exc


class _TranslatedContext(AbstractContextManager[Any]):
    def __init__(self, inner: AbstractContextManager[Any]) -> None:
        self._inner = inner

    def __enter__(self) -> Any:
        with translated():
            return self._inner.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        with translated():
            handled = self._inner.__exit__(exc_type, exc, tb)
        # An error raised in the block (a driver's, from a write) leaves the inner context as it
        # came in: translate it on its way out too.
        error = store_error_for(exc) if isinstance(exc, Exception) and not handled else None
        if error is not None:
            raise error from exc
        return handled


def _translated_iteration(inner: Generator[Any, Any, Any]) -> Iterator[Any]:
    with translated():
        yield from inner


F = TypeVar("F", bound=Callable[..., Any])


def translating(method: F) -> F:
    """The method with driver errors translated: in its call, in the context it returns, or in the
    iteration of the generator it returns."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translated():
            result = method(*args, **kwargs)
        if isinstance(result, Generator):
            return _translated_iteration(result)
        if isinstance(result, AbstractContextManager):
            return _TranslatedContext(result)
        return result

    return wrapper  # type: ignore[return-value]
