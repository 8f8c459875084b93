"""Cloud lifecycle: register, change, sync and check clouds through their adapters.

This is the only place that turns a Cloud row into a live adapter: it decrypts the
credentials, validates settings against the adapter's models and hands the adapter's
`discover` to inventory.sync, which never imports adapters itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from adapters.base import Adapter, Capability, CheckResult
from adapters.registry import AdapterConfigError, build_adapter
from adapters.timeouts import AdapterTimeout, call_with_timeout
from inventory import audit
from inventory.access import Viewer
from inventory.crypto import SecretBox, SecretBoxError
from inventory.errors import Conflict, Invalid, NotFound
from inventory.models import Cloud, CloudCreate, CloudStatus, CloudUpdate, Role
from inventory.sync import SyncOutcome, sync_cloud
from inventory.types import utcnow

log = logging.getLogger(__name__)


def adapter_for(cloud: Cloud, box: SecretBox) -> Adapter:
    credentials: dict[str, Any] | None = None
    if cloud.credentials_encrypted:
        credentials = box.decrypt_json(cloud.credentials_encrypted)
    return build_adapter(cloud.kind, cloud.settings, credentials)


def _validated(kind: str, settings: dict[str, Any], credentials: dict[str, Any] | None) -> Adapter:
    try:
        return build_adapter(kind, settings, credentials)
    except AdapterConfigError as exc:
        raise Invalid(str(exc), field=exc.field) from None


def _require_free_name(session: Session, name: str) -> None:
    if session.execute(sa.select(col(Cloud.id)).where(col(Cloud.name) == name)).first():
        raise Conflict.of("cloud.taken", field="name", name=name)


@dataclass(frozen=True, slots=True)
class Registration:
    """A cloud just registered, with what its check() said before it was saved."""

    cloud: Cloud
    checks: list[CheckResult]  # empty when the check was skipped
    warnings: list[str]


def register_checked(
    session: Session,
    viewer: Viewer,
    data: CloudCreate,
    box: SecretBox,
    *,
    skip_check: bool = False,
    timeout: float = 60.0,
) -> Registration:
    """Register a cloud only once it has answered: the console and the CLI come through here.

    Settings and credentials are validated, then the adapter's check() runs before anything
    is saved. If listing fails, nothing is saved and the error names the cloud and the
    cause: an inventory that cannot be read is no cloud to schedule on. If only provisioning
    fails (read-only credentials, a missing image), the cloud is saved with a warning, since
    its inventory is still worth having. `skip_check` registers a cloud that is down right
    now (a maintenance window, a network not yet opened); the audit event says so.
    """
    viewer.require(Role.admin)
    adapter = _validated(data.kind, data.settings, data.credentials)
    _require_free_name(session, data.name)  # before asking the cloud anything
    if skip_check:
        _close(adapter)
        log.warning("cloud %r registered by %s without a check", data.name, viewer.username)
        cloud = _save(session, viewer, data, box, check_note="check skipped at registration")
        warning = (
            f"cloud {data.name!r} was registered without a check; "
            "sync it once it answers (a failing sync marks it degraded)"
        )
        return Registration(cloud, [], [warning])
    results = _run_check(adapter, data.name, timeout)
    listed = next((r for r in results if r.capability == Capability.list), None)
    if listed is None or not listed.ok:
        cause = listed.detail if listed else "its check() reported nothing for list"
        log.warning("cloud %r not registered: its list check failed: %s", data.name, cause)
        raise Invalid(
            f"cloud {data.name!r} was not registered: its list check failed: {cause}. "
            "Fix the settings or credentials, or register it with the check skipped if it "
            "is down for now (API ?skip_check=true, CLI --no-check; audited)"
        )
    warnings = [
        f"cloud {data.name!r}: its {r.capability.value} check failed: {r.detail}; it is "
        f"registered and can be synced, but cannot {r.capability.value} until this is fixed"
        for r in results
        if not r.ok
    ]
    for warning in warnings:
        log.warning("%s", warning)
    note = "; ".join(
        f"{r.capability.value}: " + ("ok" if r.ok else f"failed ({r.detail})") for r in results
    )
    cloud = _save(session, viewer, data, box, check_note=f"check at registration: {note}")
    return Registration(cloud, results, warnings)


def _run_check(adapter: Adapter, name: str, timeout: float) -> list[CheckResult]:
    """check() within a time limit; a hang or a raise counts as every capability failing."""
    try:
        results = call_with_timeout(adapter.check, timeout, f"cloud {name!r} check")
    except AdapterTimeout as exc:
        return [CheckResult(cap, False, str(exc)) for cap in Capability]
    except Exception as exc:  # check() should report, not raise; either way nothing works
        reason = f"check raised {type(exc).__name__}: {exc}"
        return [CheckResult(cap, False, reason) for cap in Capability]
    _close(adapter)  # not after a time-out: the hung call may still be using it
    return results


def _close(adapter: Adapter) -> None:
    close = getattr(adapter, "close", None)  # the real adapters hold connection pools
    if callable(close):
        close()


def register_cloud(session: Session, viewer: Viewer, data: CloudCreate, box: SecretBox) -> Cloud:
    """Save a cloud after validating its settings, without asking the cloud anything (seeding,
    tests, benchmarks); register_checked() is the way in for admins."""
    viewer.require(Role.admin)
    _validated(data.kind, data.settings, data.credentials)
    _require_free_name(session, data.name)
    return _save(session, viewer, data, box, check_note=None)


def _save(
    session: Session, viewer: Viewer, data: CloudCreate, box: SecretBox, *, check_note: str | None
) -> Cloud:
    cloud = Cloud(
        name=data.name,
        kind=data.kind,
        vendor=data.vendor,
        region=data.region,
        security_level=data.security_level,
        prices=data.prices,
        settings=data.settings,
        credentials_encrypted=box.encrypt_json(data.credentials) if data.credentials else None,
    )
    session.add(cloud)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="cloud.create",
        target_type="cloud",
        target_id=cloud.id,
        after={**audit.state_of(cloud), "has_credentials": data.credentials is not None},
        detail=check_note,
    )
    return cloud


def update_cloud(
    session: Session, viewer: Viewer, cloud_id: int, data: CloudUpdate, box: SecretBox
) -> Cloud:
    viewer.require(Role.admin)
    cloud = _get(session, cloud_id)
    changes = data.model_dump(exclude_unset=True)
    credentials = changes.pop("credentials", None)
    enabled = changes.pop("enabled", None)
    if "settings" in changes:
        changes["settings"] = merge_patch(cloud.settings, changes["settings"])
    settings = changes.get("settings", cloud.settings)
    if "settings" in changes or credentials is not None:
        current = (
            box.decrypt_json(cloud.credentials_encrypted) if cloud.credentials_encrypted else None
        )
        _validated(cloud.kind, settings, credentials if credentials is not None else current)
    before = audit.state_of(cloud)
    cloud.sqlmodel_update(changes)
    if credentials is not None:
        cloud.credentials_encrypted = box.encrypt_json(credentials)
    if enabled is False:
        cloud.status = CloudStatus.disabled
    elif enabled is True and cloud.status == CloudStatus.disabled:
        cloud.status = CloudStatus.new
    cloud.updated_at = utcnow()
    session.add(cloud)
    old, new = audit.diff(before, audit.state_of(cloud))
    new.pop("updated_at", None)
    old.pop("updated_at", None)
    if credentials is not None:
        new["credentials"] = "replaced"  # that they changed, never what they are
    if new:
        audit.record(
            session,
            actor=viewer.username,
            action="cloud.update",
            target_type="cloud",
            target_id=cloud_id,
            before=old,
            after=new,
        )
    return cloud


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: PATCH {"settings": {"faults": {...}}} changes only faults;
    a null removes a key; a non-object replaces the value."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _get(session: Session, cloud_id: int) -> Cloud:
    cloud = session.get(Cloud, cloud_id)
    if cloud is None:
        raise NotFound(f"cloud {cloud_id} not found")
    return cloud


def sync(
    session: Session,
    viewer: Viewer,
    cloud_id: int,
    box: SecretBox,
    *,
    timeout: float = 60.0,
    max_vanish: float = 0.5,
    force: bool = False,
) -> SyncOutcome:
    """Sync one cloud. A broken configuration or a hung cloud degrades it like a failing one."""
    viewer.require(Role.admin)
    cloud = _get(session, cloud_id)
    if cloud.status == CloudStatus.disabled:
        raise Invalid(f"cloud {cloud.name!r} is disabled; enable it first", field="enabled")

    def discover() -> Any:
        adapter = adapter_for(cloud, box)
        return call_with_timeout(adapter.discover, timeout, f"cloud {cloud.name!r} discover")

    return sync_cloud(
        session, cloud, discover, actor=viewer.username, max_vanish=max_vanish, force=force
    )


def syncable_clouds(session: Session) -> list[Cloud]:
    return list(
        session.execute(
            sa.select(Cloud)
            .where(col(Cloud.status) != CloudStatus.disabled)
            .order_by(col(Cloud.id))
        ).scalars()
    )


def check(session: Session, viewer: Viewer, cloud_id: int, box: SecretBox) -> list[CheckResult]:
    viewer.require(Role.admin, Role.oncall)
    cloud = _get(session, cloud_id)
    try:
        return adapter_for(cloud, box).check()
    except (AdapterConfigError, SecretBoxError) as exc:
        raise Invalid(f"cloud {cloud.name!r} cannot be checked: {exc}") from None
