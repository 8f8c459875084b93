"""Shared rules for request bodies (the *Create and *Update models)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, field_validator

# Unknown fields are an error, not silently dropped: `{"code": "x"}` on a PATCH that
# cannot change the code must say so instead of answering 200 and doing nothing.
# Typed Any: SQLModel declares model_config as its own (private) subtype of ConfigDict.
STRICT_INPUT: Any = ConfigDict(extra="forbid")


def _reject_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


def not_null(*fields: str) -> Any:
    """For PATCH models: leaving a field out keeps it, an explicit null is a 422.

    Without it a null would reach a NOT NULL column and come back as a 409 or a 500.
    """
    return field_validator(*fields)(_reject_null)
