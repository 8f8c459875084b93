"""Local users and their bearer tokens (login sessions and API tokens)."""

from __future__ import annotations

from datetime import datetime

from pydantic import field_validator
from sqlmodel import Field, SQLModel

from inventory.models.enums import Role
from inventory.models.inputs import STRICT_INPUT, not_null
from inventory.types import UTCDateTime, str_enum, utcnow

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"


class UserBase(SQLModel):
    username: str = Field(
        max_length=64, schema_extra={"pattern": USERNAME_PATTERN}, unique=True, index=True
    )
    display_name: str = Field(default="", max_length=128)
    role: Role = Field(sa_type=str_enum(Role))
    department_id: int | None = Field(default=None, foreign_key="department.id")


class User(UserBase, table=True):
    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL
    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)  # argon2id
    is_active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserCreate(UserBase):
    model_config = STRICT_INPUT

    password: str = Field(min_length=10, max_length=256)

    @field_validator("username")
    @classmethod
    def _lower(cls, value: str) -> str:
        # "Admin" and "admin" are one person; login lower-cases what is typed too.
        return value.lower()


class UserUpdate(SQLModel):
    model_config = STRICT_INPUT

    display_name: str | None = Field(default=None, max_length=128)
    role: Role | None = None
    department_id: int | None = None
    password: str | None = Field(default=None, min_length=10, max_length=256)
    is_active: bool | None = None

    _not_null = not_null("display_name", "role", "is_active")


class UserPublic(UserBase):
    id: int
    department: str | None
    is_active: bool
    last_login_at: datetime | None


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    name: str = Field(max_length=64)
    kind: str = Field(default="api", max_length=16)  # "login" or "api"
    # SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough and lets
    # the lookup be an index hit; only the prefix is kept readable for the token list.
    token_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(max_length=16)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiTokenCreate(SQLModel):
    model_config = STRICT_INPUT

    name: str = Field(min_length=1, max_length=64)
    expires_in_days: int = Field(default=30, ge=1, le=365)


class ApiTokenPublic(SQLModel):
    id: int
    name: str
    kind: str
    prefix: str
    expires_at: datetime
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenIssued(ApiTokenPublic):
    token: str = Field(description="Shown once; only its hash is stored.")
