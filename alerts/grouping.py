"""Routing and grouping: which route an alert takes, and which incident it joins.

Routes are Alertmanager's, flattened: the first route (by position, then id) whose matchers
all match wins; with none, a default route groups by alertname and cloud. Alerts of one
route with equal values of its `group_by` labels share one incident ("..." groups by every
label, one incident per series).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.matchers import Matcher, matches, parse_matchers
from inventory.models import AlertRoute

ALL_LABELS = "..."


def default_route() -> AlertRoute:
    """Not stored: the model's defaults (group by alertname and cloud, wait 30 s,
    interval 5 min, repeat 4 h) for alerts no route matches."""
    return AlertRoute(name="default", position=2**31 - 1)


class Routes:
    def __init__(self, routes: list[AlertRoute]) -> None:
        self.routes: list[tuple[AlertRoute, list[Matcher]]] = [
            (r, parse_matchers(r.matchers)) for r in routes
        ]
        self.default = default_route()
        self.by_id = {r.id: r for r in routes}

    @classmethod
    def load(cls, session: Session) -> Routes:
        rows = session.execute(
            sa.select(AlertRoute).order_by(col(AlertRoute.position), col(AlertRoute.id))
        ).scalars()
        return cls(list(rows))

    def match(self, labels: Mapping[str, str]) -> AlertRoute:
        for route, matchers in self.routes:
            if matches(matchers, labels):
                return route
        return self.default

    def of(self, route_id: int | None) -> AlertRoute:
        """An incident's route; the default one if it had none or it was deleted since."""
        return self.by_id.get(route_id, self.default) if route_id is not None else self.default


def group_of(route: AlertRoute, labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """(group_key, group_labels). The key is hashed so any label values fit the column;
    the labels present among group_by are kept readable beside it."""
    if ALL_LABELS in route.group_by:
        grouped = dict(labels)
    else:
        grouped = {name: labels[name] for name in route.group_by if name in labels}
    material = json.dumps(
        [route.id or 0, sorted(grouped.items())], ensure_ascii=False, separators=(",", ":")
    )
    digest = hashlib.sha256(material.encode()).hexdigest()[:40]
    return f"route:{route.id or 0}:{digest}", grouped
