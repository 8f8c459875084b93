"""What the administration pages share: the admin-only dependency, form errors, JSON fields.

Decisions:
- Every admin page and form handler depends on `AdminPage` (role check as a page) and then
  calls the same service the API route calls, so the service checks the role again and
  writes the audit event; nothing here queries around it.
- Bad input comes back as `FormErrors`: the form's field -> message. A service's `Invalid`
  or `Conflict` names a field (maybe dotted, `settings.hosts_per_zone`): it is shown beside
  the form control of its first segment, or above the form when no control matches.
  Messages are the services' own (free text from data, shown as is).
- Secrets typed into a form (cloud credentials, channel secrets, passwords) are never put
  back into a re-rendered form: the user types them again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends
from pydantic import ValidationError

from console.web.form_messages import validation_message
from console.web.i18n import Translator
from console.web.roles import page_roles
from inventory.access import Viewer
from inventory.errors import DomainError
from inventory.models import Resource, Role

AdminPage = Annotated[Viewer, Depends(page_roles(Role.admin))]
GENERAL = "form"  # the key of an error that belongs to no single control
PAGE_SIZE = 50


@dataclass
class FormErrors:
    """Field -> message for one form; empty when the form was fine."""

    fields: tuple[str, ...]
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str | None, message: str, *, named: bool = False) -> None:
        """The message beside its field; one for no field of the form goes at the top,
        with the field's name in front when `named` (a nested setting, say)."""
        head = (name or "").split(".")[0]
        key = head if head in self.fields else GENERAL
        if named and key == GENERAL and name:
            message = f"{name}: {message}"
        self.errors.setdefault(key, message)

    def from_domain(self, exc: DomainError, t: Translator) -> None:
        self.add(exc.field, t.error(exc))

    def from_validation(self, exc: ValidationError, t: Translator) -> None:
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            self.add(where, validation_message(err, t), named=True)

    def __bool__(self) -> bool:
        return bool(self.errors)


class FieldError(Exception):
    """A value a form handler could not parse, before any model saw it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def json_object(name: str, text: str) -> dict[str, Any]:
    """A textarea holding a JSON object; blank is {}."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FieldError(name, f"{name}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise FieldError(name, f"{name}: must be a JSON object {{...}}")
    return value


def optional_int(name: str, text: str, low: int = 0, high: int = 10**9) -> int | None:
    """A number field that may be left blank (None)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise FieldError(name, f"{name}: must be a whole number") from None
    if not low <= value <= high:
        raise FieldError(name, f"{name}: must be between {low} and {high}")
    return value


def pager(offset: int, total: int, limit: int = PAGE_SIZE) -> dict[str, int | None]:
    """Offsets of the previous and next pages (None at either end)."""
    return {
        "prev": max(0, offset - limit) if offset > 0 else None,
        "next": offset + limit if offset + limit < total else None,
        "first": offset + 1 if total else 0,
        "last": min(offset + limit, total),
        "total": total,
    }


def resource_labels(t: Translator) -> list[tuple[str, str]]:
    """Quota dimensions as (value, label) in the Resource enum's order."""
    labels = {
        "vcpus": t("admin.resource.vcpus"),
        "memory_mb": t("admin.resource.memory_mb"),
        "disk_gb": t("admin.resource.disk_gb"),
        "gpus": t("admin.resource.gpus"),
        "instances": t("admin.resource.instances"),
    }
    return [(r.value, labels.get(r.value, r.value)) for r in Resource]
