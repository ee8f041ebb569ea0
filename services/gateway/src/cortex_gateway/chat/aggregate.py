"""A chat session's current state, read from its own subject in the event stream.

Only the first and the last event are needed (two direct gets): the first names the session, the
last tells whether it is deleted, whether it has messages, and which model it is locked to.
"""

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from cortex_contracts.events.chat import (
    MessageAdded,
    SessionCreated,
    SessionDeleted,
    SessionModelChanged,
    parse_chat_event,
)
from cortex_contracts.topology import Topology


@dataclass(frozen=True)
class ChatSession:
    session_id: str
    user_id: str
    created: SessionCreated
    last_seq: int
    model_name: str
    has_messages: bool
    deleted: bool


async def last_seq_of(js: JetStreamContext, stream: str, subject: str) -> int:
    """Sequence of the newest event on `subject` (wildcards allowed), 0 if none."""
    try:
        return int((await js.get_last_msg(stream, subject, direct=True)).seq or 0)
    except NotFoundError:
        return 0


async def load_session(
    js: JetStreamContext, topology: Topology, user_id: str, session_id: str
) -> ChatSession | None:
    subject = topology.chat_subject(user_id, session_id)
    stream = topology.chat_stream
    try:
        first = await js.get_msg(stream, seq=1, subject=subject, next=True, direct=True)
        last = await js.get_last_msg(stream, subject, direct=True)
    except NotFoundError:
        return None
    created = parse_chat_event(first.data or b"")
    latest = parse_chat_event(last.data or b"")
    if not isinstance(created, SessionCreated):
        return None
    model = created.model_name
    if isinstance(latest, SessionModelChanged | MessageAdded):
        model = latest.model_name
    return ChatSession(
        session_id=session_id,
        user_id=user_id,
        created=created,
        last_seq=int(last.seq or 0),
        model_name=model,
        has_messages=isinstance(latest, MessageAdded),
        deleted=isinstance(latest, SessionDeleted),
    )
