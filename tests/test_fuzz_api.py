"""Schemathesis against the app's own OpenAPI, with every role's token: no 5xx, and every
response conforms to the schema its operation declares.

Decisions:
- In process: cases are sent through the world's TestClient (the app's lifespan already runs),
  not over a socket; the schema is the one the app serves at /openapi.json.
- Bounded and repeatable: a few examples per operation (YUNHENG_FUZZ_EXAMPLES, default 5),
  derandomized, no example database, no shrinking; a failure names the operation and prints a
  curl command to replay it.
- Checks: no server error, response schema conformance and content type conformance. Status
  code conformance is left out on purpose: FastAPI documents only 200 and 422, while 401, 403,
  404 and 409 are the app's documented behaviour (README, tests/roles_matrix.py).
- The fuzzer may disable or demote a world user through PATCH /users/{id}; the actors are
  restored before each operation so later operations still run as the role they claim.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from sqlmodel import Session, col

from inventory.models import User
from tests.factories import Actor, World

EXAMPLES = int(os.environ.get("YUNHENG_FUZZ_EXAMPLES", "5"))
ROLES = ("admin", "department", "oncall", "manager")
BASE_URL = "http://testserver"
# Valid inputs (must not 5xx, may 4xx on ids that do not exist) and invalid ones (must 4xx).
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def _actor(world: World, role: str) -> Actor:
    estate = world.estate
    return {
        "admin": estate.admin,
        "department": estate.dept_a,
        "oncall": estate.oncall,
        "manager": estate.manager,
    }[role]


@pytest.fixture(scope="module")
def api_schema(world: World) -> Any:
    raw = world.client.get("/openapi.json").json()
    return schemathesis.openapi.from_dict(raw)


@pytest.fixture(scope="module")
def restore_actors(world: World) -> Iterator[Any]:
    """Put every world user back as it was (role, department, active, not locked)."""
    with Session(world.engine) as session:
        saved = [
            (row.id, row.role, row.department_id)
            for row in session.execute(sa.select(User)).scalars().all()
        ]

    def restore() -> None:
        with Session(world.engine) as session:
            for user_id, role, department_id in saved:
                session.execute(
                    sa.update(User)
                    .where(col(User.id) == user_id)
                    .values(
                        role=role,
                        department_id=department_id,
                        is_active=True,
                        failed_logins=0,
                        locked_until=None,
                    )
                )
            session.commit()

    yield restore


def _fuzz_operation(world: World, operation: Any, role: str, classes: Counter[int]) -> list[str]:
    """Run the operation's examples as `role`; return what failed (empty: all good) and
    count the responses by status class in `classes`."""
    headers = world.headers(_actor(world, role))  # a fresh token: a case may log it out
    found: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of([operation.as_strategy(mode) for mode in MODES]))
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):
            kwargs["content"] = kwargs.pop("data")  # httpx spells raw bodies `content`
        response = world.client.request(**kwargs)
        classes[response.status_code // 100] += 1
        try:
            case.validate_response(
                response,
                checks=[
                    st_checks.not_a_server_error,
                    st_checks.response_schema_conformance,
                    st_checks.content_type_conformance,
                ],
                headers=headers,
            )
        except (FailureGroup, AssertionError) as failure:
            found.append(f"{operation.label} as {role}: {failure}\n{case.as_curl_command()}")

    run()
    return found


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_every_operation(
    world: World, api_schema: Any, restore_actors: Any, role: str
) -> None:
    failures: list[str] = []
    classes: Counter[int] = Counter()
    operations = 0
    for result in api_schema.get_all_operations():
        restore_actors()
        failures.extend(_fuzz_operation(world, result.ok(), role, classes))
        operations += 1
    assert operations > 100, "the schema lost its operations"
    # The control: the role's token got through to real answers, not only 401s.
    assert classes[2] > operations // 2, classes
    assert not failures, "\n\n".join(failures[:20]) + f"\n\n{len(failures)} failure(s)"
