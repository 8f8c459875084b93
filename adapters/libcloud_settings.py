"""Settings and credentials of a libcloud cloud, checked when the cloud is registered.

The driver name is checked against libcloud's provider table and the driver options against
the driver's constructor, so a typo fails at registration naming the field, not at 3 a.m.
in a sync. The key and secret live in the credentials (encrypted at rest); nothing secret
belongs in `driver_options`.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from libcloud.compute.providers import get_driver
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

# Constructor arguments Yunheng fills itself; an admin setting them in driver_options would
# either leak a secret into plain settings or contradict another field.
_RESERVED_OPTIONS = {"key", "secret", "region", "creds", "timeout"}
_OptionValue = str | int | float | bool


class PoolQuota(BaseModel):
    """What the account may use in one location: the capacity of that location's pool."""

    model_config = ConfigDict(extra="forbid")
    vcpus: int = Field(ge=0, le=10_000_000)
    memory_mb: int = Field(ge=0, le=10_000_000_000)
    disk_gb: int = Field(ge=0, le=1_000_000_000)
    gpus: int = Field(default=0, ge=0, le=1_000_000)
    instances: int | None = Field(default=None, ge=0, description="None: no instance limit")


class LibcloudCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=1024, description="access key id or user name")
    secret: SecretStr | None = Field(default=None, description="secret key or password")


class LibcloudSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    driver: str = Field(
        min_length=1, max_length=64, description="libcloud compute provider, e.g. ec2"
    )
    region: str | None = Field(default=None, min_length=1, max_length=64)
    driver_options: dict[str, _OptionValue] = Field(
        default_factory=dict,
        description="extra driver constructor arguments: host, port, secure, signature_version…",
    )
    image: str | None = Field(
        default=None, min_length=1, max_length=256, description="image id for provisioning"
    )
    quota: PoolQuota = Field(description="account quota per location, unless location_quotas")
    location_quotas: dict[str, PoolQuota] = Field(default_factory=dict)
    locations: list[str] = Field(
        default_factory=list, description="only these locations (id or name); empty: all"
    )
    location_key: Literal["auto", "id", "name"] = Field(
        default="auto",
        description="what names a zone; auto: the name when the driver's ids are positions",
    )
    sizes: list[str] = Field(
        default_factory=list, description="shell patterns of size ids to use; empty: all"
    )
    size_vcpus: dict[str, int] = Field(
        default_factory=dict, description="vCPUs per size id, for drivers that do not say"
    )
    arch: Literal["x86_64", "aarch64"] = "x86_64"
    zone_availability: float = Field(default=0.999, gt=0.0, lt=1.0)
    create_options: dict[str, Any] = Field(
        default_factory=dict, description="extra create_node arguments: ex_keyname, ex_subnet…"
    )
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=2, ge=0, le=5, description="retries of a transient failure")
    backoff_seconds: float = Field(default=0.5, ge=0, le=30)

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        try:
            get_driver(value)
        except AttributeError:
            raise ValueError(
                f"unknown libcloud compute driver {value!r} (e.g. ec2, openstack, aliyun_ecs)"
            ) from None
        return value

    @field_validator("driver_options")
    @classmethod
    def _options_fit_driver(
        cls, value: dict[str, _OptionValue], info: ValidationInfo
    ) -> dict[str, _OptionValue]:
        reserved = sorted(set(value) & _RESERVED_OPTIONS)
        if reserved:
            raise ValueError(f"{reserved[0]!r} has its own field (credentials, region, timeout)")
        driver = info.data.get("driver")
        if driver is None:  # the driver itself was rejected; that error names it
            return value
        accepted, open_ended = constructor_parameters(driver)
        unknown = sorted(k for k in value if k not in accepted)
        if unknown and not open_ended:
            raise ValueError(f"the {driver} driver takes no {unknown[0]!r} option")
        return value

    def quota_for(self, location: str) -> PoolQuota:
        return self.location_quotas.get(location, self.quota)


def constructor_parameters(driver: str) -> tuple[set[str], bool]:
    """Named parameters of the driver's constructor, and whether it takes **kwargs."""
    params = inspect.signature(get_driver(driver).__init__).parameters.values()
    named = {p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}
    return named - {"self"}, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
