"""The adapter contract every kind of cloud implements.

An adapter is the only code that talks to a cloud. It is built from the cloud's
non-secret settings and its decrypted credentials, each validated by the adapter's own
pydantic models, so a bad field is rejected at registration with its name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from inventory.snapshot import Snapshot


class AdapterError(Exception):
    """A cloud call failed; the message names the call and the cloud's answer."""


class Capability(StrEnum):
    list = "list"  # discover() works
    provision = "provision"  # provision()/deprovision() work


@dataclass(frozen=True, slots=True)
class CheckResult:
    capability: Capability
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ProvisionRequest:
    idempotency_key: str  # the plan's key; a retry must find what the first try made
    name: str
    department: str | None
    host: str  # HostInfo.external_id chosen by the placement plan
    vcpus: int
    memory_mb: int
    disk_gb: int
    gpus: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    external_id: str
    host: str
    created: bool  # False when an earlier try had already made it
    extra: dict[str, Any] = field(default_factory=dict)


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Adapter(ABC):
    kind: ClassVar[str]
    label: ClassVar[str]  # shown to admins, e.g. "OpenStack (openstacksdk)"
    settings_model: ClassVar[type[BaseModel]] = NoSettings
    credentials_model: ClassVar[type[BaseModel]] = NoSettings

    def __init__(self, settings: BaseModel, credentials: BaseModel | None = None) -> None:
        self.settings = settings
        self.credentials = credentials

    @abstractmethod
    def discover(self) -> Snapshot:
        """Everything the cloud reports now: zones, hosts, workloads, replicas."""

    @abstractmethod
    def provision(self, request: ProvisionRequest) -> ProvisionResult:
        """Create one replica on the planned host; idempotent on request.idempotency_key."""

    @abstractmethod
    def deprovision(self, external_id: str) -> bool:
        """Remove one replica; False when it was already gone."""

    @abstractmethod
    def check(self) -> list[CheckResult]:
        """Per capability: does it work with these settings and credentials, and if not, why."""
