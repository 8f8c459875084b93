"""Administration: local users and their roles (list, create, change, deactivate).

Through inventory.accounts, as the API: it checks the role, refuses a department user
without a department (Invalid naming `department_id`) and an admin demoting or deactivating
themselves (Forbidden), revokes the sessions of a deactivated user or one whose password
changed, and audits every change. Passwords are never shown, nor put back into a form.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col

from console.deps import Id, SessionDep
from console.web.pages_admin_common import (
    PAGE_SIZE,
    AdminPage,
    FieldError,
    FormErrors,
    optional_int,
    pager,
)
from console.web.render import render, translator
from console.web.session import check_csrf
from inventory import accounts
from inventory.errors import Conflict, Forbidden, Invalid, NotFound
from inventory.models import Department, Role, User, UserCreate, UserPublic, UserUpdate
from inventory.paging import PageParams

router = APIRouter(include_in_schema=False)
CREATE_FIELDS = ("username", "display_name", "role", "department_id", "password")
EDIT_FIELDS = ("display_name", "role", "department_id", "password", "is_active")
Text = Annotated[str, Form(max_length=256)]
Csrf = Annotated[str, Form(max_length=128)]
SORTS = ("username", "-username", "role", "-role")


def _choices(session: Session, request: Request) -> dict[str, Any]:
    """The role and department options every user form offers."""
    t = translator(request)
    roles = [
        (Role.admin.value, t("role.admin")),
        (Role.department.value, t("role.department")),
        (Role.oncall.value, t("role.oncall")),
        (Role.manager.value, t("role.manager")),
    ]
    rows = session.execute(sa.select(Department).order_by(col(Department.code))).scalars()
    departments = [("", t("admin.users.no_department"))]
    departments += [(str(d.id), f"{d.code} · {d.name}") for d in rows]
    return {"roles": roles, "departments": departments}


def _list_page(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    offset: int = 0,
    sort: str = "username",
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
    created: bool = False,
) -> Response:
    found = accounts.list_users(session, viewer, PageParams(PAGE_SIZE, offset, sort))
    return render(
        request,
        "admin/users.html",
        viewer,
        users=found.items,
        pages=pager(offset, found.total),
        sort=sort,
        created=created,
        values=values or {"role": Role.department.value},
        errors=errors.errors if errors else {},
        status_code=status_code,
        **_choices(session, request),
    )


@router.get("/admin/users")
def users_page(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    sort: Annotated[str, Query(max_length=16)] = "username",
    created: bool = False,
) -> Response:
    sort = sort if sort in SORTS else "username"
    return _list_page(request, session, viewer, offset, sort, created=created)


@router.post("/admin/users")
def user_create(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    csrf_token: Csrf = "",
    username: Text = "",
    display_name: Text = "",
    role: Text = "",
    department_id: Text = "",
    password: Text = "",
) -> Response:
    check_csrf(request, csrf_token)
    values = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "department_id": department_id,
    }
    errors = FormErrors(CREATE_FIELDS)
    try:
        body = UserCreate.model_validate(
            {
                "username": username.strip(),
                "display_name": display_name.strip(),
                "role": role,
                "department_id": optional_int("department_id", department_id, 1, 2**31 - 1),
                "password": password,
            }
        )
        accounts.create_user(session, viewer, body)
    except FieldError as exc:
        errors.add(exc.name, exc.message)
    except ValidationError as exc:
        errors.from_validation(exc, translator(request))
    except (Invalid, Conflict) as exc:
        errors.from_domain(exc, translator(request))
    if errors:
        session.rollback()
        return _list_page(request, session, viewer, values=values, errors=errors, status_code=422)
    session.commit()
    return RedirectResponse("/admin/users?created=1", 303)


def _user(session: Session, user_id: int) -> UserPublic:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound.of("user.not_found", user=user_id)
    return accounts.user_public(session, user)


def _edit_page(
    request: Request,
    session: Session,
    viewer: AdminPage,
    user: UserPublic,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    shown = {
        "display_name": user.display_name,
        "role": user.role.value,
        "department_id": str(user.department_id or ""),
        "is_active": "1" if user.is_active else "",
    }
    return render(
        request,
        "admin/user.html",
        viewer,
        user=user,
        values={**shown, **(values or {})},
        errors=errors.errors if errors else {},
        saved=saved,
        status_code=status_code,
        **_choices(session, request),
    )


@router.get("/admin/users/{user_id}")
def user_page(
    request: Request, user_id: Id, session: SessionDep, viewer: AdminPage, saved: bool = False
) -> Response:
    return _edit_page(request, session, viewer, _user(session, user_id), saved=saved)


@router.post("/admin/users/{user_id}")
def user_update(
    request: Request,
    user_id: Id,
    session: SessionDep,
    viewer: AdminPage,
    csrf_token: Csrf = "",
    display_name: Text = "",
    role: Text = "",
    department_id: Text = "",
    password: Text = "",
    is_active: Text = "",
) -> Response:
    """The whole form is sent: an unticked "active" box deactivates; a blank password
    leaves it unchanged."""
    check_csrf(request, csrf_token)
    _user(session, user_id)  # 404 before judging the form
    values = {
        "display_name": display_name,
        "role": role,
        "department_id": department_id,
        "is_active": is_active,
    }
    errors = FormErrors(EDIT_FIELDS)
    try:
        changes: dict[str, Any] = {
            "display_name": display_name.strip(),
            "role": role,
            "department_id": optional_int("department_id", department_id, 1, 2**31 - 1),
            "is_active": bool(is_active),
        }
        if password:
            changes["password"] = password
        accounts.update_user(session, viewer, user_id, UserUpdate.model_validate(changes))
    except FieldError as exc:
        errors.add(exc.name, exc.message)
    except ValidationError as exc:
        errors.from_validation(exc, translator(request))
    except (Invalid, Forbidden) as exc:
        # Forbidden here is the self-demotion rule: a mistake in the form, shown beside it.
        errors.from_domain(exc, translator(request))
    if errors:
        session.rollback()
        user = _user(session, user_id)
        return _edit_page(request, session, viewer, user, values, errors, status_code=422)
    session.commit()
    return RedirectResponse(f"/admin/users/{user_id}?saved=1", 303)
