"""A chat session's current state, read from its own subject in the event stream.

Usually only the first and the last event are needed (two gets): the first names the session,
the last tells whether it is deleted, whether it has messages (a model change is only possible
before the first message) and which model it uses. If the last message of the subject is
not a readable event (it was dead-lettered by the projection), the subject is read in full.

Reads that decide a write or a 404 go to the stream's leader (the STREAM.MSG.GET API, not a direct
get): on a cluster, any replica answers a direct get, and a follower that fell behind (frozen, cut
off) would not yet know a chat created meanwhile. On a single node both are one request.
"""

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from cortex_contracts.events.chat import (
    AnyChatEvent,
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
    last_seq: int  # of the subject's newest message: the expected last sequence of a write
    model_name: str
    has_messages: bool
    deleted: bool


async def last_seq_of(js: JetStreamContext, stream: str, subject: str) -> int:
    """Sequence of the newest event on `subject` (wildcards allowed), 0 if none."""
    try:
        return int((await js.get_last_msg(stream, subject)).seq or 0)
    except NotFoundError:
        return 0


def _readable(message: RawStreamMsg) -> AnyChatEvent | None:
    try:
        return parse_chat_event(message.data or b"")
    except ValidationError:
        return None


async def load_session(
    js: JetStreamContext, topology: Topology, user_id: str, session_id: str
) -> ChatSession | None:
    subject = topology.chat_subject(user_id, session_id)
    stream = topology.chat_stream
    try:
        first = await js.get_msg(stream, seq=1, subject=subject, next=True)
        last = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    created = _readable(first)
    if not isinstance(created, SessionCreated):
        return None
    last_seq = int(last.seq or 0)
    latest = created if last_seq == first.seq else _readable(last)
    if latest is None:
        return await _replay_subject(js, stream, subject, created, last_seq)
    return _state(created, [latest], last_seq)


async def _replay_subject(
    js: JetStreamContext, stream: str, subject: str, created: SessionCreated, last_seq: int
) -> ChatSession:
    events: list[AnyChatEvent] = []
    seq = 1
    while seq <= last_seq:
        try:
            message = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            break
        event = _readable(message)
        if event is not None:
            events.append(event)
        seq = int(message.seq or last_seq) + 1
    return _state(created, events, last_seq)


def _state(created: SessionCreated, events: list[AnyChatEvent], last_seq: int) -> ChatSession:
    model = created.model_name
    has_messages = deleted = False
    for event in events:
        if isinstance(event, SessionModelChanged):
            model = event.model_name
        elif isinstance(event, MessageAdded):
            has_messages, model = True, event.model_name
        elif isinstance(event, SessionDeleted):
            deleted = True
    return ChatSession(
        session_id=created.aggregate_id,
        user_id=created.actor.user_id or "",
        created=created,
        last_seq=last_seq,
        model_name=model,
        has_messages=has_messages,
        deleted=deleted,
    )
