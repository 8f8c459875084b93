"""What the alerts pages need beyond the alert services: the filter choices, cloud names for
a page of rows (one query), matchers as the forms show and read them, form errors mapped to
their field, and the labels of states, statuses and timeline events.

Lists, actions and noise control go through alerts.views, alerts.actions and alerts.config,
the API's own services, so validation, scoping and the audit are shared with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, col

from alerts.matchers import Matcher
from console.web.form_messages import validation_message
from console.web.i18n import Translator
from inventory.errors import Invalid
from inventory.models import Cloud

PAGE_SIZE = 50
ALERT_STATES = ("firing", "pending", "resolved", "all")  # "" = the active ones
INCIDENT_STATUSES = ("open", "acknowledged", "resolved", "all")  # "" = open and acknowledged
SEVERITIES = ("P1", "P2", "P3", "P4")
# Sorts both lists understand; most urgent first is what a duty room wants.
SORTS = ("severity", "-severity")
SILENCE_STATES = ("pending", "active", "expired")
WEEKDAYS = range(7)


@dataclass(frozen=True)
class Filters:
    """The list's query parameters as typed: kept in the form, the pager and the refresh."""

    view: str = "alerts"
    status: str = ""
    severity: str = ""
    cloud: str = ""
    q: str = ""
    sort: str = ""
    offset: int = 0


def cloud_names(session: Session) -> dict[int, str]:
    rows = session.execute(sa.select(col(Cloud.id), col(Cloud.name)).order_by(col(Cloud.name)))
    return {int(i): str(n) for i, n in rows.all()}


def matcher_text(labels: dict[str, str]) -> str:
    """An alert's labels as equality matchers, one per line: a silence of exactly that series."""
    return "\n".join(str(Matcher(name, "=", value)) for name, value in sorted(labels.items()))


def matcher_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def form_error(exc: Invalid | ValidationError, t: Translator) -> tuple[str, str]:
    """(form field, message): `matchers[2].value` belongs to the matchers box."""
    if isinstance(exc, Invalid):
        field, message = exc.field or "", t.error(exc)
    else:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        message = validation_message(first, t)
    return field.split("[")[0].split(".")[0] or "form", message


def state_labels(t: Translator) -> dict[str, str]:
    """Literal keys (never built from the value) so the catalogue test sees each one."""
    return {
        "": t("alerts.state.active"),
        "pending": t("alerts.state.pending"),
        "firing": t("alerts.state.firing"),
        "resolved": t("alerts.state.resolved"),
        "all": t("alerts.state.all"),
        "open": t("alerts.status.open"),
        "acknowledged": t("alerts.status.acknowledged"),
        "active": t("alerts.silence.active"),
        "expired": t("alerts.silence.expired"),
    }


def status_labels(t: Translator) -> dict[str, str]:
    return {
        "": t("alerts.status.unresolved"),
        "open": t("alerts.status.open"),
        "acknowledged": t("alerts.status.acknowledged"),
        "resolved": t("alerts.state.resolved"),
        "all": t("alerts.state.all"),
    }


def event_labels(t: Translator) -> dict[str, str]:
    """The timeline's kinds (alerts.timeline); an unknown kind is shown as stored."""
    return {
        "created": t("alerts.event.created"),
        "alert_added": t("alerts.event.alert_added"),
        "alert_resolved": t("alerts.event.alert_resolved"),
        "alert_refired": t("alerts.event.alert_refired"),
        "suppressed": t("alerts.event.suppressed"),
        "unsuppressed": t("alerts.event.unsuppressed"),
        "severity": t("alerts.event.severity"),
        "notified": t("alerts.event.notified"),
        "acked": t("alerts.event.acked"),
        "resolved": t("alerts.event.resolved"),
        "note": t("alerts.event.note"),
        "escalation_started": t("alerts.event.escalation_started"),
        "escalated": t("alerts.event.escalated"),
        "escalation_ended": t("alerts.event.escalation_ended"),
        "delivered": t("alerts.event.delivered"),
        "delivery_failed": t("alerts.event.delivery_failed"),
    }


def weekday_labels(t: Translator) -> list[str]:
    return [
        t("alerts.weekday.0"),
        t("alerts.weekday.1"),
        t("alerts.weekday.2"),
        t("alerts.weekday.3"),
        t("alerts.weekday.4"),
        t("alerts.weekday.5"),
        t("alerts.weekday.6"),
    ]
