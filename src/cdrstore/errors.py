"""The domain's errors: what the operations refuse, named for what went wrong, never for a status.

Each layer raises its own (the query parser `QueryError`, a batch `BatchError`, the store
`StoreUnavailable`, ...); every one of them derives from `DomainError` and carries a message fit to
show a user. The HTTP status and contract code of each are chosen in one table, `api/errors.py`.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a message for the user; subclasses say what kind."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DomainError):
    """A request that is malformed as a whole (a stray query parameter on POST, a body cut off)."""


class PayloadTooLarge(DomainError):
    """More than one request may carry."""


class UnsupportedMediaType(DomainError):
    """A body in a format that is not accepted."""


class RequestTimeout(DomainError):
    """The client stopped sending before its request was complete."""


class RouteNotFound(DomainError):
    """No such path. The message keeps the reference's words "method not found" (its clients
    may look for them) but says first that it is the path that is unknown."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"unknown path: {method} {path} (method not found)")


class MethodNotAllowed(RouteNotFound):
    """The path exists, but not with this method (worded as the reference words it)."""

    def __init__(self, method: str, path: str, allowed: str) -> None:
        DomainError.__init__(self, f"method not found, method: {method} url: {path}")
        self.allowed = allowed  # the methods the path takes, as `Allow` lists them


class Unauthenticated(DomainError):
    """No usable credentials: missing, malformed, unknown, revoked or expired."""

    def __init__(self, message: str, *, presented: bool = True) -> None:
        super().__init__(message)
        self.presented = presented  # whether any credentials came with the request
        self.basic = False  # whether the route also takes HTTP Basic (and so challenges for it)


class Forbidden(DomainError):
    """Valid credentials that do not allow this (another app's, or a scope they lack)."""


class RateLimited(DomainError):
    """Too many requests in the current window."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the window starts afresh


class CursorExpired(DomainError):
    """A change feed cursor from before the oldest entry the change log still holds: what changed
    since it can no longer be told, and the client must copy the records afresh."""
