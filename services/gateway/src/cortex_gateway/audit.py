"""Security-relevant actions go to the audit stream, through the contracts library."""

import logging
from typing import Any

from cortex_contracts.envelope import Actor
from cortex_contracts.events.audit import AuditAction, AuditRecorded
from cortex_contracts.runtime.jetstream import publish_event
from cortex_gateway.state import AppState

log = logging.getLogger(__name__)


async def record(
    state: AppState,
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
    await publish_event(state.js, state.topology.audit_subject(action), event)
