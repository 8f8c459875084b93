"""Kind -> adapter class, spelled out: no discovery by naming convention."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from adapters.base import Adapter
from adapters.kubernetes import KubernetesAdapter
from adapters.libcloud import LibcloudAdapter
from adapters.openstack import OpenStackAdapter
from adapters.simulator import SimulatorAdapter

REGISTRY: dict[str, type[Adapter]] = {
    SimulatorAdapter.kind: SimulatorAdapter,
    KubernetesAdapter.kind: KubernetesAdapter,
    LibcloudAdapter.kind: LibcloudAdapter,
    OpenStackAdapter.kind: OpenStackAdapter,
}


class AdapterConfigError(ValueError):
    """Settings or credentials do not fit the adapter; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def adapter_class(kind: str) -> type[Adapter]:
    try:
        return REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise AdapterConfigError(f"unknown cloud kind {kind!r}; known: {known}", "kind") from None


def build_adapter(
    kind: str, settings: dict[str, Any], credentials: dict[str, Any] | None = None
) -> Adapter:
    """Validate settings and credentials against the adapter's models, then build it."""
    cls = adapter_class(kind)
    parsed_settings = _parse(cls.settings_model, settings, "settings")
    parsed_credentials = _parse(cls.credentials_model, credentials or {}, "credentials")
    return cls(parsed_settings, parsed_credentials)


def _parse(model: Any, data: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        name = f"{where}.{loc}" if loc else where
        raise AdapterConfigError(f"{name}: {first['msg']}", name) from None
