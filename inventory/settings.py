"""One Settings object for the whole process, read from YUNHENG_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YUNHENG_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Where the SQLite database and the generated secret key live.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means a SQLite file in data_dir.",
    )
    secret_key: str = Field(
        default="",
        description="Fernet key for secrets at rest; empty: data_dir/secret.key, made on demand",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    token_ttl_hours: int = Field(default=12, ge=1, le=24 * 30, description="Login token lifetime.")
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long a console process remembers a checked API token's caller. A "
        "revocation or user change made through another process (worker, replica) takes "
        "effect there within this time; 0: every request asks the database.",
    )
    login_max_failures: int = Field(default=5, ge=1, description="Failures before lockout.")
    login_lockout_minutes: int = Field(default=15, ge=1)
    login_client_max_failures: int = Field(
        default=10, ge=1, description="Failed logins per client address before it must wait."
    )
    login_client_window_seconds: float = Field(
        default=300.0, gt=0, description="The window those failures are counted over."
    )
    adapter_timeout_seconds: float = Field(default=60.0, gt=0)
    sync_max_vanish_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A sync that would mark more of a cloud's hosts or replicas gone is refused.",
    )
    placement_time_limit_seconds: float = Field(
        default=5.0, gt=0, le=600, description="CP-SAT time limit for a request's plan"
    )
    severity_ack_minutes: dict[str, int] = Field(
        default_factory=dict,
        description='Response targets overriding the defaults, e.g. {"P1": 3}: acknowledge '
        "a P1 within 3 minutes (defaults P1 5, P2 15, P3 60, P4 240).",
    )
    default_escalation_policy: str = Field(
        default="default",
        max_length=120,
        description="The escalation policy (by name) of incidents whose route names none.",
    )
    prometheus_url: str = Field(
        default="",
        description="Prometheus to evaluate rule files against; empty: built-in rules only.",
    )
    rule_files: str = Field(
        default="",
        description="Prometheus alerting-rule files, comma-separated; globs allowed.",
    )
    assessment_kpis: dict[str, Any] = Field(
        default_factory=dict,
        description="The monthly assessment's KPI weights and targets as JSON (sla.kpi.KpiConfig),"
        ' e.g. {"weights": {"availability": 0.4, "alert_noise": 0}, "lead_time_target_hours": 48};'
        " what it leaves out keeps its default.",
    )
    slo_file: str = Field(
        default="",
        description="SLO definitions (YAML, 'slos:' list); its vendor-scope SLOs measure each "
        "vendor's availability from Prometheus for the settlement. Empty: incidents only.",
    )
    sla_disagreement_minutes: float = Field(
        default=5.0,
        ge=0,
        le=44640,
        description="Prometheus and incidents disagreeing by more than this many minutes of "
        "downtime over the month are flagged in the settlement.",
    )
    alert_interval_seconds: float = Field(
        default=30.0, ge=0.2, le=3600, description="How often the alert loop evaluates."
    )
    alert_loop: bool = Field(
        default=True,
        description="`yunheng serve` contends for the alert-loop lease (false: never runs it).",
    )
    report_schedule: bool = Field(
        default=True,
        description="The alert-loop leader stores the monthly report at 08:00 Asia/Shanghai "
        "on the 1st and catches up hourly (false: reports are stored only on demand).",
    )
    alert_blind_for_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long Prometheus must be unanswering before MonitoringBlind fires.",
    )
    alert_recovery_grace_seconds: float = Field(
        default=120.0,
        ge=0,
        description="After Prometheus answers again, how long before absent alerts resolve "
        "(its first scrapes may not have happened yet).",
    )
    alert_query_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    alert_sync_stale_minutes: int = Field(
        default=60, ge=1, description="A cloud not synced for this long raises InventorySyncStale."
    )
    demo_fault_minutes: float = Field(
        default=3.0, gt=0, description="`yunheng demo`: a simulated fault every N minutes."
    )
    notify_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Tries per notification before it is marked failed."
    )
    notify_backoff_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Wait before the 2nd try; doubles each time."
    )
    notify_backoff_max_seconds: float = Field(
        default=900.0, gt=0, le=86400, description="The longest wait between two tries."
    )
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Per request to a webhook, robot or SMTP server."
    )
    notify_workers: int = Field(
        default=4, ge=1, le=64, description="Notifications sent at once (threads)."
    )
    notify_language: Literal["zh-CN", "en"] = Field(
        default="zh-CN", description="Language of notifications; a channel may set its own."
    )
    console_url: str = Field(
        default="",
        max_length=500,
        description="The console's address as on-call staff reach it, for links in messages.",
    )
    log_level: str = "INFO"

    @field_validator("severity_ack_minutes")
    @classmethod
    def _ack_minutes(cls, value: dict[str, int]) -> dict[str, int]:
        for key, minutes in value.items():
            if key not in ("P1", "P2", "P3", "P4"):
                raise ValueError(f"severity_ack_minutes: unknown severity {key!r} (P1-P4)")
            if not 1 <= minutes <= 7 * 24 * 60:
                raise ValueError(f"severity_ack_minutes.{key}: 1 to 10080 minutes")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'yunheng.db').resolve()}"

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
