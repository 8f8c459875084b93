"""What a solve returns: assignments, objective terms, bound and gap, and the explanation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["optimal", "feasible", "infeasible", "unknown"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Assignment(_Out):
    service: str
    host: str
    zone: str
    cloud: str
    moved_from: str | None = Field(default=None, description="rebalance: the host it leaves")
    existing: bool = Field(default=False, description="an existing replica left where it is")


class ServiceReport(_Out):
    service: str
    replicas: int
    zones: dict[str, int] = Field(description="replicas per zone")
    sla_target: float | None
    predicted_availability: float = Field(description="1 - prod(1 - a_z) over the zones used")
    meets_target: bool
    survives_zone_loss: bool = Field(description="min_healthy replicas remain after any one zone")


class Objective(_Out):
    cost_per_hour: float
    hosts_used: int
    migrations: int
    max_utilisation: float = Field(description="the fullest host's dominant resource, 0..1")
    weighted: float


class Bound(_Out):
    hosts_used: int = Field(description="no plan can use fewer hosts")
    cost_per_hour: float = Field(description="no plan can cost less")
    weighted: float | None = Field(
        default=None,
        description="no plan's weighted objective is lower: the LP relaxation's (GLOP) or "
        "CP-SAT's proven bound, whichever is higher (CP-SAT's is in the model's units, "
        "rounded to 0.001 per term)",
    )
    method: str = Field(description="volume, lp, or lp+cp-sat: how the bounds were found")


class PlanResult(_Out):
    status: Status
    solver: str
    assignments: list[Assignment] = Field(default_factory=list)
    objective: Objective | None = None
    bound: Bound | None = None
    gap: float | None = Field(default=None, description="(hosts used - bound) / hosts used")
    objective_gap: float | None = Field(
        default=None, description="(weighted - bound.weighted) / weighted, when bounded"
    )
    seconds_to_first: float | None = None
    seconds_total: float = 0.0
    services: list[ServiceReport] = Field(default_factory=list)
    binding: list[str] = Field(
        default_factory=list, description="constraints that limited the plan"
    )
    conflicts: list[str] = Field(default_factory=list, description="why no plan exists, in words")
    notes: list[str] = Field(default_factory=list, description="how the solve went")
