"""The projection's rules, free of I/O: what one chat event does to its session's row.

The live projector (projector.py) and the rebuild (rebuild.py) both use these rules, so a rebuild
writes exactly the rows the live projection wrote.

A session's *position* is the stream sequence of the last event of its subject that the
projection has handled (applied, or rejected and dead-lettered). An event is handled only in its
turn: when it is the next message of its subject after the position.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

from cortex_contracts.events.chat import (
    UNTITLED,
    AnyChatEvent,
    MessageAdded,
    SessionCreated,
    SessionDeleted,
    SessionModelChanged,
    title_from_message,
)
from cortex_contracts.storable import document_problem, text_problem
from cortex_contracts.topology import chat_partition_of

MAX_USER_ID = 36
MAX_MODEL_NAME = 200
MAX_ENGINE_TYPE = 32


@dataclass(slots=True)
class SessionRow:
    """One row of `chat_sessions`, field for field."""

    id: UUID
    user_id: str
    title: str
    auto_title: bool
    model_name: str
    engine_type: str
    constraints_json: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    message_count: int
    last_seq: int


@dataclass(slots=True)
class Tombstone:
    """A deleted session (or a subject whose first event was rejected): only its position."""

    session_id: UUID
    user_id: str
    deleted_seq: int


@dataclass(slots=True, frozen=True)
class MessageRow:
    id: int
    session_id: UUID
    role: str
    content: str
    metrics_json: dict[str, Any] | None
    created_at: datetime


Stored = SessionRow | Tombstone | None


@dataclass(frozen=True)
class SessionKey:
    """Owner and id of a session, from its subject `<prefix>.chat.<user_id>.<session_id>`."""

    user_id: str
    session_id: UUID


@lru_cache(maxsize=16_384)  # a session's events come together: its subject is parsed once
def session_key(subject: str, *, partitions: int) -> SessionKey | None:
    """A deployment has one layout (`Topology.chat_subject`): with partitions the partition
    comes before the user, and a four-token subject is a stray of no session. So is a subject
    whose partition is not its session's: its events would be applied out of their session's
    order (another partition's consumer), and a verify split by partition would miss them."""
    parts = subject.split(".")
    if partitions > 1:
        if len(parts) != 5 or parts[2] != str(chat_partition_of(parts[4], partitions)):
            return None
        del parts[2]
    if len(parts) != 4 or parts[1] != "chat" or not 0 < len(parts[2]) <= MAX_USER_ID:
        return None
    try:
        session_id = UUID(parts[3])
    except ValueError:
        return None
    if str(session_id) != parts[3]:
        return None
    return SessionKey(user_id=parts[2], session_id=session_id)


@dataclass(frozen=True)
class Unreadable:
    """A message of a chat subject that is not a chat event (a parking kind, see
    `cortex_runtime.parking`: malformed, oversized or wrong-version)."""

    reason: str
    kind: str = "malformed"


def position(stored: Stored) -> int:
    if isinstance(stored, SessionRow):
        return stored.last_seq
    if isinstance(stored, Tombstone):
        return stored.deleted_seq
    return 0


class Turn(Enum):
    DONE = "done"  # handled before: a redelivery
    NOW = "now"  # the event names the position as its predecessor
    LATER = "later"  # its (trustworthy) predecessor is not handled yet
    ASK_STREAM = "ask_stream"  # an event whose predecessor cannot be trusted


def turn_of(
    stored: Stored, seq: int, event: AnyChatEvent | Unreadable, *, trusted: bool = False
) -> Turn:
    """`trusted`: JetStream checked, when it stored the event, that the subject's last message
    was the event's `previous_seq` (the publisher sent it as expected last subject sequence)."""
    current = position(stored)
    if seq <= current:
        return Turn.DONE
    if isinstance(event, Unreadable):
        return Turn.ASK_STREAM
    if event.previous_seq == current:
        return Turn.NOW
    if trusted and event.previous_seq > current:
        return Turn.LATER
    return Turn.ASK_STREAM


@dataclass(frozen=True)
class Applied:
    row: SessionRow | None  # the session's row afterwards (None once deleted)
    tombstone: Tombstone | None = None
    message: MessageRow | None = None


@dataclass(frozen=True)
class Rejected:
    reason: str


def evolve(
    stored: Stored, key: SessionKey, seq: int, event: AnyChatEvent | Unreadable
) -> Applied | Rejected:
    """The effect of an event in its turn, or why it cannot be applied."""
    if isinstance(event, Unreadable):
        return Rejected(event.reason)
    problem = _envelope_problem(stored, key, event) or _content_problem(event)
    if problem:
        return Rejected(problem)
    if isinstance(event, SessionCreated):
        if stored is not None:
            return Rejected("the session was created before")
        return Applied(row=_created_row(key, seq, event))
    if not isinstance(stored, SessionRow):
        return Rejected("the session does not exist or was deleted")
    if isinstance(event, MessageAdded):
        return _add_message(stored, seq, event)
    if isinstance(event, SessionModelChanged):
        if stored.message_count:
            return Rejected(f"the session is locked to model {stored.model_name}")
        return Applied(row=_with_model(stored, seq, event))
    assert isinstance(event, SessionDeleted)
    return Applied(row=None, tombstone=Tombstone(key.session_id, key.user_id, seq))


def skip(stored: Stored, key: SessionKey, seq: int) -> SessionRow | Tombstone:
    """The stored state once a rejected event in its turn is passed over."""
    if isinstance(stored, SessionRow):
        return _copy_row(stored, last_seq=seq)
    return Tombstone(key.session_id, key.user_id, seq)


def _envelope_problem(stored: Stored, key: SessionKey, event: AnyChatEvent) -> str | None:
    if event.aggregate_id != str(key.session_id):
        return "aggregate_id is not the session of the subject"
    if event.actor.user_id != key.user_id:
        return "actor.user_id is not the owner named by the subject"
    if event.previous_seq != position(stored):
        return f"previous_seq {event.previous_seq} is not the session's last event"
    return None


def _content_problem(event: AnyChatEvent) -> str | None:
    """What PostgreSQL would refuse to store (checked here, so that a rebuild agrees)."""
    texts: list[str | None] = []
    documents: list[dict[str, Any] | None] = []
    if isinstance(event, SessionCreated | SessionModelChanged):
        if len(event.model_name) > MAX_MODEL_NAME or len(event.engine_type) > MAX_ENGINE_TYPE:
            return "model_name or engine_type is too long"
        texts += [event.model_name, event.engine_type]
        documents.append(event.constraints_json)
    if isinstance(event, SessionCreated):
        texts.append(event.title)
    if isinstance(event, MessageAdded):
        texts += [event.content, event.model_name]
        documents.append(event.metrics_json)
    for text in texts:
        problem = None if text is None else text_problem(text)
        if problem:
            return f"a text {problem}"
    for document in documents:
        problem = None if document is None else document_problem(document)
        if problem:
            return f"a JSON document cannot be stored: it {problem}"
    return None


def _created_row(key: SessionKey, seq: int, event: SessionCreated) -> SessionRow:
    return SessionRow(
        id=key.session_id,
        user_id=key.user_id,
        title=event.title or UNTITLED,
        auto_title=event.title is None,
        model_name=event.model_name,
        engine_type=event.engine_type,
        constraints_json=event.constraints_json,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        message_count=0,
        last_seq=seq,
    )


def _add_message(stored: SessionRow, seq: int, event: MessageAdded) -> Applied | Rejected:
    if event.model_name != stored.model_name:
        return Rejected(
            f"message for model {event.model_name} in a session of model {stored.model_name}"
        )
    row = SessionRow(  # built whole, not through _copy_row: this is the rule of most events
        stored.id,
        stored.user_id,
        stored.title,
        stored.auto_title,
        stored.model_name,
        stored.engine_type,
        stored.constraints_json,
        stored.created_at,
        max(stored.updated_at, event.occurred_at),
        stored.message_count + 1,
        seq,
    )
    if row.auto_title and event.role == "user":
        title = title_from_message(event.content)
        if title != UNTITLED:  # a blank first message leaves the title to the next one
            row.title, row.auto_title = title, False
    message = MessageRow(
        id=seq,
        session_id=stored.id,
        role=event.role,
        content=event.content,
        metrics_json=event.metrics_json,
        created_at=event.occurred_at,
    )
    return Applied(row=row, message=message)


def _with_model(stored: SessionRow, seq: int, event: SessionModelChanged) -> SessionRow:
    return _copy_row(
        stored,
        model_name=event.model_name,
        engine_type=event.engine_type,
        constraints_json=event.constraints_json,
        updated_at=max(stored.updated_at, event.occurred_at),
        last_seq=seq,
    )


def _copy_row(row: SessionRow, **changes: Any) -> SessionRow:
    copy = SessionRow(
        row.id,
        row.user_id,
        row.title,
        row.auto_title,
        row.model_name,
        row.engine_type,
        row.constraints_json,
        row.created_at,
        row.updated_at,
        row.message_count,
        row.last_seq,
    )  # field by field: a dict of all slots cost a tenth of a replay
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy
