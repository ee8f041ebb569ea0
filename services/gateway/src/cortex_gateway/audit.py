"""Security-relevant actions go to the audit stream, through the contracts library.

Callers publish before their database transaction commits: if the audit event cannot be stored,
the action fails instead of happening unrecorded.
"""

import logging
from typing import Any

from fastapi import Request

from cortex_contracts.envelope import Actor
from cortex_contracts.events.audit import AuditAction, AuditRecorded
from cortex_gateway.auth.principal import Principal
from cortex_gateway.deps import EventStore
from cortex_runtime.jetstream import publish_event

log = logging.getLogger(__name__)


def actor_of(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, org_id=principal.org_id)


def client_addr(request: Request) -> str:
    """The caller's address (uvicorn applies X-Forwarded-For from trusted proxies only)."""
    return request.client.host if request.client else "unknown"


async def record(
    events: EventStore,
    action: AuditAction,
    *,
    subject_id: str,
    actor: Actor | None = None,
    remote_addr: str | None = None,
    **details: Any,
) -> None:
    event = AuditRecorded(
        action=action,
        aggregate_id=subject_id,
        actor=actor or Actor(),
        remote_addr=remote_addr,
        details=details,
    )
    await publish_event(events.js, events.topology.audit_subject(action), event)
    log.info("audit %s subject=%s actor=%s", action, subject_id, event.actor.user_id)


async def record_by(
    events: EventStore,
    request: Request,
    principal: Principal,
    action: AuditAction,
    *,
    subject_id: str,
    **details: Any,
) -> None:
    """An action taken by a logged-in user (usually an administrator)."""
    details.setdefault("by_username", principal.username)
    await record(
        events,
        action,
        subject_id=subject_id,
        actor=actor_of(principal),
        remote_addr=client_addr(request),
        **details,
    )
