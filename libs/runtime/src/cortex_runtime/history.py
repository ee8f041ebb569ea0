"""Events of several streams read together, in the order the store took them: audit exports,
timelines and data archives (docs/audit.md, "Export").

Each stream is pulled by its own reader (`reader.read_selection`: subject filter and start time
on the server), and the streams are merged by store time, ties by the order of the selections,
then sequence; one stream's events always keep their sequence order. Memory holds a batch per
stream, never the whole selection.
"""

import heapq
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from cortex_contracts.timeline import Timeline, TimelineEntry
from cortex_contracts.topology import Topology
from cortex_contracts.trail import Selection, TrailQuery, selections
from cortex_runtime.reader import StoredEvent, read_selection

EPOCH = datetime.fromtimestamp(0, UTC)


class Recorded(NamedTuple):
    stream: str
    event: StoredEvent
    payload: dict[str, Any] | None  # the event's JSON; None when it is not a JSON object


async def read_trail(
    js: JetStreamContext,
    wanted: Sequence[Selection],
    since: datetime | None = None,
    until: datetime | None = None,
) -> AsyncIterator[Recorded]:
    """Every selected event stored at or after `since` and before `until`, merged by time."""
    sources = [_selected(js, selection, since, until) for selection in wanted]
    heads: list[tuple[datetime, int, int, Recorded]] = []

    async def advance(order: int) -> None:
        recorded = await anext(sources[order], None)
        if recorded is not None:
            time = recorded.event.time or EPOCH
            heapq.heappush(heads, (time, order, recorded.event.seq, recorded))

    try:
        for order in range(len(sources)):
            await advance(order)
        while heads:
            _, order, _, recorded = heapq.heappop(heads)
            yield recorded
            await advance(order)
    finally:
        for source in sources:
            await source.aclose()


async def _selected(
    js: JetStreamContext, selection: Selection, since: datetime | None, until: datetime | None
) -> AsyncGenerator[Recorded]:
    async for batch in read_selection(js, selection.stream, selection.subjects, since):
        for event in batch:
            if until is not None and event.time is not None and event.time >= until:
                continue  # not a stop: a clustered stream's times may step back a little
            payload = _json_object(event.data)
            if selection.keep is None or (payload is not None and selection.keep(payload)):
                yield Recorded(selection.stream, event, payload)


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def export_line(recorded: Recorded) -> bytes:
    """One JSON Lines record: stream, sequence, subject, store time and the event exactly as
    stored (its bytes, so its hash chain can be checked); a payload that is not a JSON object
    comes as text in `payload`, with `event` null."""
    event = recorded.event
    head = {
        "stream": recorded.stream,
        "seq": event.seq,
        "subject": event.subject,
        "time": event.time.isoformat() if event.time else None,
    }
    start = json.dumps(head, separators=(",", ":"))[:-1].encode()
    if recorded.payload is not None:
        if b"\n" in event.data:  # JSON may hold raw line breaks between values: one line each
            return start + b',"event":' + json.dumps(recorded.payload).encode() + b"}\n"
        return start + b',"event":' + event.data + b"}\n"
    text = json.dumps(event.data.decode(errors="replace"))
    return start + b',"event":null,"payload":' + text.encode() + b"}\n"


class KnownUser(NamedTuple):
    user_id: str
    username: str


async def find_user(js: JetStreamContext, topology: Topology, who: str) -> KnownUser | None:
    """The user whose id or name is `who`, as the audit trail names them (their creation, their
    logins): a deleted user's history is found too; the newest mention wins."""
    found = None
    naming = [
        Selection(topology.audit_stream, topology.audit_subject(action))
        for action in ("user.created", "auth.login.succeeded")
    ]
    async for recorded in read_trail(js, naming):
        payload = recorded.payload or {}
        details = payload.get("details") or {}
        user_id, username = payload.get("aggregate_id"), details.get("username")
        if isinstance(user_id, str) and isinstance(username, str) and who in (user_id, username):
            found = KnownUser(user_id, username)
    return found


async def read_timeline(
    js: JetStreamContext, topology: Topology, user: KnownUser
) -> AsyncIterator[TimelineEntry]:
    """The user's timeline (cortex_contracts.timeline), oldest first."""
    timeline = Timeline(user.user_id, user.username)
    query = TrailQuery(user_id=user.user_id, username=user.username)
    async for recorded in read_trail(js, selections(topology, query)):
        event = recorded.event
        if recorded.payload is not None and event.time is not None:
            entry = timeline.entry(recorded.stream, event.seq, event.time, recorded.payload)
            if entry is not None:
                yield entry


async def stored_subjects(js: JetStreamContext, stream: str, subjects: str) -> list[str]:
    """The subjects of `stream` matching `subjects` that hold a message (a user's chats)."""
    try:
        info = await js.stream_info(stream, subjects_filter=subjects)
    except NotFoundError:
        return []
    return sorted(info.state.subjects or {})
