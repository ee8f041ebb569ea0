"""Security-relevant actions, kept for replay and audit."""

from typing import Any, Literal

from cortex_contracts.envelope import Event

AuditAction = Literal[
    "auth.login.succeeded",
    "auth.login.failed",
    "auth.logout",
    "user.created",
    "user.disabled",
    "user.enabled",
    "user.password_changed",
    "user.role_changed",
    "org.created",
    "org.disabled",
    "org.enabled",
    "api_key.created",
    "api_key.revoked",
    "upstream.registered",
    "upstream.removed",
    # reading the trail is audited too (docs/audit.md, "Export")
    "audit.exported",
    "audit.timeline_viewed",
    "user.archive_downloaded",
    "user.deleted",
    "retention.changed",
    "retention.applied",
    "bench.limits_changed",
    "audit.verified",
]


class AuditRecorded(Event):
    """aggregate_id is the subject of the action (a user, key, org or upstream id)."""

    type: Literal["audit.recorded"] = "audit.recorded"
    action: AuditAction
    remote_addr: str | None = None
    details: dict[str, Any] = {}
