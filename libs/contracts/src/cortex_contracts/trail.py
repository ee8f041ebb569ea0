"""What an audit export selects (`cortex-audit export`, `GET /admin/audit/export`, the user's
archive): which streams, which subjects, and which events of them belong to a user or a chat.

Pure data and predicates over an event's JSON, shared by the audit tool and the gateway; the
runtime reads the streams (cortex_runtime.history). docs/audit.md, "Export".
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from cortex_contracts.messages.usage import EARLIEST, LATEST, UtcDatetime
from cortex_contracts.topology import Topology

Keep = Callable[[dict[str, Any]], bool]


class TrailQuery(BaseModel):
    """The filters of an export, combinable; none at all selects every event. Times bound the
    moment the stream stored an event (`since` inclusive, `until` exclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str | None = None
    # The user's name: a failed login is recorded under the name that was tried.
    username: str | None = None
    chat_id: UUID | None = None
    # ISO 8601 date and time; without a zone, UTC (what the streams store)
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None

    @field_validator("since", "until")
    @classmethod
    def _within_bounds(cls, moment: datetime | None) -> datetime | None:
        if moment is not None and not EARLIEST <= moment <= LATEST:
            raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
        return moment

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


@dataclass(frozen=True)
class Selection:
    """Events of one stream: `subjects` narrows it on the server, `keep` (on the event's JSON)
    after reading, for streams whose subjects do not name the user or chat."""

    stream: str
    subjects: str
    keep: Keep | None = None


def selections(topology: Topology, query: TrailQuery) -> list[Selection]:
    """The streams of `query`, in the order their events sort on equal times."""
    chat = str(query.chat_id) if query.chat_id else None
    if chat:  # the partition token (if any) follows from the chat id
        chat_subjects = topology.chat_subject(query.user_id or "*", chat)
    elif query.user_id:
        chat_subjects = topology.chat_user_subjects(query.user_id)
    else:
        chat_subjects = topology.chat_all_subjects
    found = [
        Selection(topology.chat_stream, chat_subjects),
        Selection(topology.usage_stream, topology.usage_all_subjects, _usage_keep(query, chat)),
    ]
    if chat is None:  # security events belong to users, never to one chat
        found.append(
            Selection(topology.audit_stream, topology.audit_all_subjects, _audit_keep(query))
        )
    return found


def _usage_keep(query: TrailQuery, chat: str | None) -> Keep | None:
    user = query.user_id
    if user is None and chat is None:
        return None

    def keep(event: dict[str, Any]) -> bool:
        if user is not None and _actor(event) != user:
            return False
        return chat is None or event.get("chat_session_id") == chat

    return keep


def _audit_keep(query: TrailQuery) -> Keep | None:
    if query.user_id is None:
        return None
    return involving(query.user_id, query.username)


def involving(user_id: str, username: str | None) -> Keep:
    """An audit event the user took part in: as actor, as its subject (an admin's action on
    them, a key of theirs), or a failed login under their name."""

    def keep(event: dict[str, Any]) -> bool:
        if _actor(event) == user_id or event.get("aggregate_id") == user_id:
            return True
        details = event.get("details")
        if isinstance(details, dict) and details.get("user_id") == user_id:
            return True
        return (
            username is not None
            and event.get("action") == "auth.login.failed"
            and event.get("aggregate_id") == username
        )

    return keep


def _actor(event: dict[str, Any]) -> Any:
    actor = event.get("actor")
    return actor.get("user_id") if isinstance(actor, dict) else None
