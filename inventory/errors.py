"""Domain errors raised by the service layer; the console maps them to HTTP statuses."""

from __future__ import annotations

from typing import Self

from inventory import messages


class DomainError(Exception):
    """Base: carries a message a user can act on.

    Raised with `.of(key, **params)`, the message comes from the error catalogues
    (inventory.messages), so a console page can show it in its reader's language."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        key: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.key = key
        self.params = params or {}

    @classmethod
    def of(cls, key: str, *, field: str | None = None, **params: object) -> Self:
        message = messages.text(messages.ENGLISH, key, params) or f"{key} {params}"
        return cls(message, field=field, key=key, params=params)

    def text(self, locale: str) -> str:
        """The message in `locale` where the catalogue has it, else the English one."""
        if self.key is None:
            return self.message
        return messages.text(locale, self.key, self.params) or self.message


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    pass


class Invalid(DomainError):
    pass
