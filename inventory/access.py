"""Who is asking: every service call takes a Viewer and scopes its query by it.

Department isolation lives here and in the service functions, never in templates or
routes, so every way in (API, pages, CLI) gets the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from inventory.errors import Forbidden
from inventory.models import Role

SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class Viewer:
    username: str
    role: Role
    department_id: int | None = None
    user_id: int | None = None

    @property
    def is_department(self) -> bool:
        return self.role == Role.department

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden.of("role.forbidden", role=self.role.value, allowed=allowed)

    def department_scope(self, requested: int | None) -> int | None:
        """The department filter to apply: a department user is pinned to its own."""
        if not self.is_department:
            return requested
        if requested is not None and requested != self.department_id:
            raise Forbidden.of("department.own_only")
        return self.department_id

    @classmethod
    def system(cls, name: str = SYSTEM_ACTOR) -> Viewer:
        return cls(username=name, role=Role.admin)
