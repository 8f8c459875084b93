"""What the request pages need around the workflow services: the form's choices and presets,
and turning the form into a RequestCreate with messages a department user can act on (the
list itself is scheduler.views.list_requests, as for the API).

Validation stays in RequestCreate and scheduler.workflow.submit (quota included), exactly as
for `POST /api/v1/requests`; this module only translates between form fields and the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlmodel import Session, col

from console.web.form_messages import validation_message
from console.web.i18n import Translator
from inventory.access import Viewer
from inventory.models import (
    SLA_TIERS,
    Cloud,
    CloudStatus,
    Department,
    Host,
    HostState,
    RequestCreate,
)

REQUEST_STATUS = {
    "planned": "requests.status.planned",
    "unplaceable": "requests.status.unplaceable",
    "approved": "requests.status.approved",
    "fulfilled": "requests.status.fulfilled",
    "partial": "requests.status.partial",
    "rejected": "requests.status.rejected",
}
PLAN_STATUS = {
    "proposed": "requests.plan_status.proposed",
    "approved": "requests.plan_status.approved",
    "rejected": "requests.plan_status.rejected",
    "applying": "requests.plan_status.applying",
    "applied": "requests.plan_status.applied",
    "partial": "requests.plan_status.partial",
    "superseded": "requests.plan_status.superseded",
}
ALLOCATION_STATUS = {
    "pending": "requests.alloc_status.pending",
    "provisioned": "requests.alloc_status.provisioned",
    "failed": "requests.alloc_status.failed",
}
LABELS = {"request": REQUEST_STATUS, "plan": PLAN_STATUS, "allocation": ALLOCATION_STATUS}


@dataclass(frozen=True)
class Preset:
    key: str
    vcpus: int
    memory_gb: int
    disk_gb: int


# The sizes departments ask for most (in 核/G, as they say it); "custom" opens the fields.
PRESETS = (
    Preset("small", 2, 4, 50),
    Preset("medium", 4, 8, 100),
    Preset("large", 8, 16, 200),
    Preset("xlarge", 16, 32, 500),
)
CUSTOM = "custom"
MAX_MEMORY_GB = 4096  # RequestCreate's 4 TiB


@dataclass(frozen=True)
class FormChoices:
    regions: list[str]
    arches: list[str]
    departments: list[tuple[int, str, str]]  # id, code, name; admins only (they pick one)
    tiers: tuple[float, ...] = SLA_TIERS
    presets: tuple[Preset, ...] = PRESETS
    levels: tuple[int, ...] = (1, 2, 3, 4, 5)


def form_choices(session: Session, viewer: Viewer) -> FormChoices:
    """Regions of the clouds that can take work, and the architectures of live hosts."""
    regions = session.execute(
        sa.select(col(Cloud.region)).where(col(Cloud.status) != CloudStatus.disabled).distinct()
    ).scalars()
    arches = session.execute(
        sa.select(col(Host.arch)).where(col(Host.state) != HostState.gone).distinct()
    ).scalars()
    departments: list[tuple[int, str, str]] = []
    if not viewer.is_department:
        rows = session.execute(
            sa.select(col(Department.id), col(Department.code), col(Department.name)).order_by(
                col(Department.code)
            )
        )
        departments = [(int(i), str(c), str(n)) for i, c, n in rows]
    return FormChoices(
        regions=sorted(str(r) for r in regions),
        arches=sorted(str(a) for a in arches),
        departments=departments,
    )


FIELDS = (
    "department_id",
    "service_name",
    "replicas",
    "size",
    "vcpus",
    "memory_gb",
    "disk_gb",
    "sla_target",
    "security_level",
    "region",
    "arch",
)


@dataclass
class RequestForm:
    """The form as typed (strings, so a bad value is shown back as it was) and its errors."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)  # form field -> message
    problem: str | None = None  # an error that belongs to no one field

    @classmethod
    def blank(cls) -> RequestForm:
        defaults = {name: "" for name in FIELDS}
        defaults.update(replicas="2", size="medium", sla_target="0.999", security_level="3")
        return cls(defaults)

    def uses_preset(self) -> bool:
        return self.values.get("size", "") != CUSTOM

    def place_error(self, field_name: str | None, message: str) -> None:
        """Put a service's message beside the control that the user can change."""
        name = {"memory_mb": "memory_gb"}.get(field_name or "", field_name or "")
        if name in ("vcpus", "memory_gb", "disk_gb") and self.uses_preset():
            name = "size"
        if name in FIELDS and name not in self.errors:
            self.errors[name] = message
        elif name not in FIELDS:
            self.problem = message


def _int(form: RequestForm, name: str, t: Translator) -> int | None:
    raw = form.values.get(name, "").strip()
    if not raw:
        form.errors[name] = t("form.err.required")
        return None
    try:
        return int(raw)
    except ValueError:
        form.errors[name] = t("form.err.integer")
        return None


def _size(form: RequestForm, t: Translator) -> dict[str, int]:
    """vcpus, memory_mb and disk_gb from the preset, or from the custom fields."""
    if not form.uses_preset():
        return _custom_size(form, t)
    preset = next((p for p in PRESETS if p.key == form.values.get("size")), None)
    if preset is None:
        form.errors["size"] = t("requests.err.size")
        return {}
    return {"vcpus": preset.vcpus, "memory_mb": preset.memory_gb * 1024, "disk_gb": preset.disk_gb}


def _custom_size(form: RequestForm, t: Translator) -> dict[str, int]:
    # What is valid goes on to RequestCreate so that its own range checks still run; what is
    # missing here already has its message, which the model's "missing" will not replace.
    size: dict[str, int] = {}
    for name in ("vcpus", "disk_gb"):
        number = _int(form, name, t)
        if number is not None:
            size[name] = number
    memory_gb = _int(form, "memory_gb", t)
    if memory_gb is not None and not 1 <= memory_gb <= MAX_MEMORY_GB:
        form.errors["memory_gb"] = t("requests.err.range", low=1, high=MAX_MEMORY_GB)
    elif memory_gb is not None:
        size["memory_mb"] = memory_gb * 1024
    return size


def _message(error: ErrorDetails, raw: str, t: Translator) -> str:
    if error["type"] == "string_pattern_mismatch":
        return t("requests.err.service_name")  # the only pattern: say what a name may be
    return validation_message(error, t, raw)


def to_create(form: RequestForm, viewer: Viewer, t: Translator) -> RequestCreate | None:
    """The RequestCreate the form describes, or None with `form.errors` filled in."""
    v = {k: s.strip() for k, s in form.values.items()}
    data: dict[str, object] = {
        "service_name": v.get("service_name", ""),
        "replicas": v.get("replicas", ""),
        "security_level": v.get("security_level", ""),
        "sla_target": v.get("sla_target") or None,
        "region": v.get("region") or None,
        "arch": v.get("arch") or None,
        **_size(form, t),
    }
    if not viewer.is_department:
        if not v.get("department_id"):
            form.errors["department_id"] = t("requests.err.department")
        else:
            data["department_id"] = v["department_id"]
    try:
        created = RequestCreate.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            if name == "sla_target":
                message = t("requests.err.sla_tier")
            else:
                message = _message(error, v.get(name, "x"), t)
            form.place_error(name, message)
        return None
    return None if form.errors else created
