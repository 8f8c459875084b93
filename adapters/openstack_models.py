"""Settings and credentials of an OpenStack cloud, validated at registration.

Settings are stored in clear and shown to staff; secrets (the password or the application
credential secret) go in the credentials, which are stored encrypted and never returned.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class OpenStackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud: str | None = Field(
        default=None, min_length=1, max_length=128, description="an entry in clouds.yaml"
    )
    clouds_yaml: str | None = Field(
        default=None,
        min_length=1,
        description="path of the clouds.yaml holding `cloud`; default: the standard search path",
    )
    auth_url: str | None = Field(default=None, max_length=512, description="Keystone v3 URL")
    username: str | None = Field(default=None, min_length=1, max_length=255)
    user_domain_name: str | None = Field(default=None, min_length=1, max_length=255)
    project_name: str | None = Field(default=None, min_length=1, max_length=255)
    project_domain_name: str | None = Field(default=None, min_length=1, max_length=255)
    region_name: str | None = Field(default=None, min_length=1, max_length=255)
    interface: Literal["public", "internal", "admin"] = "public"
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, min_length=1)
    image: str | None = Field(
        default=None, min_length=1, description="image name or id that provision() boots"
    )
    networks: Literal["none", "auto"] | list[str] = Field(
        default="none",
        description="what provisioned servers attach to: none, auto, or network ids",
    )
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=2, ge=0, le=10, description="retries of a transient failure")
    retry_backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    # Below YUNHENG_ADAPTER_TIMEOUT_SECONDS (60), which bounds any adapter call from outside,
    # so a slow boot is reported with its status; a retry finds the server again.
    provision_timeout_seconds: float = Field(default=45.0, gt=0, le=3600)
    parallel_requests: int = Field(
        default=4, ge=1, le=32, description="Placement reads in flight at once during discover"
    )
    default_zone_availability: float = Field(default=0.999, gt=0, lt=1)
    zone_availability: dict[str, float] = Field(
        default_factory=dict, description="availability estimate per availability zone"
    )
    project_departments: dict[str, str] = Field(
        default_factory=dict,
        description="project id -> department code, for servers Yunheng did not make",
    )

    @field_validator("auth_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("zone_availability")
    @classmethod
    def _availabilities(cls, value: dict[str, float]) -> dict[str, float]:
        for zone, estimate in value.items():
            if not 0 < estimate < 1:
                raise ValueError(f"{zone}: {estimate} is not between 0 and 1")
        return value

    @model_validator(mode="after")
    def _somewhere_to_connect(self) -> Self:
        if self.cloud is None and self.auth_url is None:
            raise ValueError("set cloud (a clouds.yaml entry) or auth_url")
        if self.clouds_yaml is not None and self.cloud is None:
            raise ValueError("clouds_yaml needs cloud (the entry to use)")
        return self


class OpenStackCredentials(BaseModel):
    """A password, or an application credential; neither when clouds.yaml holds the secret."""

    model_config = ConfigDict(extra="forbid")

    password: SecretStr | None = Field(default=None, min_length=1)
    application_credential_id: str | None = Field(default=None, min_length=1, max_length=255)
    application_credential_secret: SecretStr | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        has_app = (
            self.application_credential_id is not None
            or self.application_credential_secret is not None
        )
        if has_app and self.password is not None:
            raise ValueError("give a password or an application credential, not both")
        if has_app and (
            self.application_credential_id is None or self.application_credential_secret is None
        ):
            raise ValueError(
                "application_credential_id and application_credential_secret go together"
            )
        return self
