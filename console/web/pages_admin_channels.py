"""Administration: notification channels (list, create, delete).

Through alerts.notifiers.channels, as the API: it validates the kind's settings and secrets
(Invalid naming the field), encrypts secrets at rest and audits. The list shows which
secret keys are set, never their values (ChannelPublic.secret_keys), and a form re-rendered
after a mistake does not carry the secrets back. Deleting a channel that has delivered
anything is refused by the service (Conflict: disable it instead); that refusal is shown on
the list, not as an error page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from alerts.notifiers import channels
from alerts.notifiers.channels import ChannelCreate
from console.deps import BoxDep, Id, SessionDep
from console.web.pages_admin_common import (
    PAGE_SIZE,
    AdminPage,
    FieldError,
    FormErrors,
    json_object,
    pager,
)
from console.web.render import render, translator
from console.web.session import check_csrf
from inventory.errors import Conflict, Invalid
from inventory.models import ChannelKind
from inventory.paging import PageParams
from inventory.types import utcnow

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "kind", "settings", "secrets", "enabled")
Offset = Annotated[int, Query(ge=0, le=10**9)]


def _page(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    box: BoxDep,
    offset: int = 0,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    found = channels.list_channels(session, PageParams(PAGE_SIZE, offset, "name"))
    return render(
        request,
        "admin/channels.html",
        viewer,
        channels=[channels.public(c, box) for c in found.items],
        pages=pager(offset, found.total),
        kinds=[(k.value, k.value) for k in ChannelKind],
        values=values or {"kind": ChannelKind.webhook.value, "enabled": "1"},
        errors=errors.errors if errors else {},
        notice=notice,
        status_code=status_code,
    )


@router.get("/admin/channels")
def channels_page(
    request: Request, session: SessionDep, viewer: AdminPage, box: BoxDep, offset: Offset = 0
) -> Response:
    return _page(request, session, viewer, box, offset)


@router.post("/admin/channels")
def channel_create(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    box: BoxDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    name: Annotated[str, Form(max_length=256)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    settings: Annotated[str, Form(max_length=20_000)] = "",
    secrets: Annotated[str, Form(max_length=20_000)] = "",
    enabled: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    values = {"name": name, "kind": kind, "settings": settings, "enabled": enabled}
    errors = FormErrors(FIELDS)
    try:
        body = ChannelCreate.model_validate(
            {
                "name": name.strip(),
                "kind": kind,
                "settings": json_object("settings", settings),
                "secrets": json_object("secrets", secrets),
                "enabled": bool(enabled),
            }
        )
        channels.create(session, viewer, body, box, utcnow())
    except FieldError as exc:
        errors.add(exc.name, exc.message)
    except ValidationError as exc:
        errors.from_validation(exc, translator(request))
    except (Invalid, Conflict) as exc:
        errors.from_domain(exc, translator(request))
    if errors:
        session.rollback()
        return _page(request, session, viewer, box, 0, values, errors, status_code=422)
    session.commit()
    return RedirectResponse("/admin/channels", 303)


@router.post("/admin/channels/{channel_id}/delete")
def channel_delete(
    request: Request,
    channel_id: Id,
    session: SessionDep,
    viewer: AdminPage,
    box: BoxDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        channels.delete(session, viewer, channel_id)
    except Conflict as exc:
        session.rollback()
        return _page(
            request, session, viewer, box, notice=translator(request).error(exc), status_code=409
        )
    session.commit()
    return RedirectResponse("/admin/channels", 303)
