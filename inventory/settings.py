"""One Settings object for the whole process, read from YUNHENG_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
    login_max_failures: int = Field(default=5, ge=1, description="Failures before lockout.")
    login_lockout_minutes: int = Field(default=15, ge=1)
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
    log_level: str = "INFO"

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
