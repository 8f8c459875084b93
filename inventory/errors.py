"""Domain errors raised by the service layer; the console maps them to HTTP statuses."""

from __future__ import annotations


class DomainError(Exception):
    """Base: carries a message a user can act on."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    pass


class Invalid(DomainError):
    pass
