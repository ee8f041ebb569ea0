"""GET /auth/me/archive: everything the system holds about the caller, as one zip file.

Read from the event streams (the source of truth) and zipped as it is read: the zip is streamed
to the client in chunks (never the whole history in memory, nor on disk). Only the caller's own
subjects and events go in (cortex_contracts.trail). docs/audit.md, "The user's archive".
"""

import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from cortex_contracts.events.chat import UNTITLED, title_from_message
from cortex_contracts.trail import Selection, TrailQuery, selections
from cortex_gateway import audit
from cortex_gateway.auth.dependencies import User
from cortex_gateway.deps import Events, EventStore
from cortex_gateway.openapi import AUTHENTICATED, errors
from cortex_runtime.history import export_line, read_trail, stored_subjects

router = APIRouter(prefix="/auth/me", tags=["auth"])

CHUNK_BYTES = 256 * 1024
ZIP_ARCHIVE = {
    "description": "The caller's data: chats, usage, security events, the raw events",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
}
README = """Your data from the Cortex Chat Playground, as of {when} (UTC).

chats/<chat id>.json   one file per chat: its title, model, when it was created (and deleted,
                       if you deleted it: the system still holds its events), and its messages
                       in order, each with its role, text, model and time.
usage.jsonl            one line per completion you asked for (playground or API key): model,
                       status, tokens, timings.
security.jsonl         one line per security event about you: logins (also failed ones under
                       your name), logouts, password and role changes, API keys, and what
                       administrators did to your account.
events.jsonl           the raw event history of all the above, as the system stores it: one
                       line per event with its stream, sequence number, subject, the time it
                       was stored and the event itself, ordered by that time.
"""


@router.get(
    "/archive",
    response_class=StreamingResponse,
    responses={200: ZIP_ARCHIVE, **errors(*AUTHENTICATED)},
)
async def download_archive(principal: User, request: Request, events: Events) -> StreamingResponse:
    """One zip: chats with messages (JSON), usage records, security events, the raw events
    (JSON Lines) and a README.txt describing them."""
    await audit.record(
        events,
        "user.archive_downloaded",
        subject_id=principal.user_id,
        actor=audit.actor_of(principal),
        remote_addr=audit.client_addr(request),
        username=principal.username,
    )
    query = TrailQuery(user_id=principal.user_id, username=principal.username)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        archive_stream(events, query),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="cortex-data-{stamp}.zip"',
            "Cache-Control": "no-store",
        },
    )


class _Sink(io.RawIOBase):
    """Where the zip is written: not seekable, so zipfile streams (sizes after each entry's
    data), and the bytes go to the client as they come, never to a file (the gateway's /tmp is a
    small emptyDir in Kubernetes)."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.pending += data
        return len(data)

    def take(self) -> bytes:
        taken = bytes(self.pending)
        self.pending.clear()
        return taken


async def archive_stream(events: EventStore, query: TrailQuery) -> AsyncIterator[bytes]:
    """The zip, in chunks of about CHUNK_BYTES, as the events are read."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        async for _ in write_entries(archive, events, query):
            if len(sink.pending) >= CHUNK_BYTES:
                yield sink.take()
    yield sink.take()  # the end of the last entry and the central directory


async def write_entries(
    archive: zipfile.ZipFile, events: EventStore, query: TrailQuery
) -> AsyncIterator[None]:
    """Writes every entry; yields after each event so the caller can send what is ready."""
    chat, usage, security = selections(events.topology, query)
    archive.writestr("README.txt", README.format(when=datetime.now(UTC).isoformat()))
    for subject in await stored_subjects(events.js, chat.stream, chat.subjects):
        chat_id = events.topology.chat_session_of(subject)
        with archive.open(f"chats/{chat_id}.json", "w") as entry:
            async for _ in write_chat(entry, events, Selection(chat.stream, subject), chat_id):
                yield None
    for name, selection in (("usage.jsonl", usage), ("security.jsonl", security)):
        with archive.open(name, "w") as entry:
            async for recorded in read_trail(events.js, [selection]):
                entry.write(json.dumps(recorded.payload).encode() + b"\n")
                yield None
    with archive.open("events.jsonl", "w") as entry:
        async for recorded in read_trail(events.js, [chat, usage, security]):
            entry.write(export_line(recorded))
            yield None


async def write_chat(
    entry: IO[bytes], events: EventStore, selection: Selection, chat_id: str
) -> AsyncIterator[None]:
    """{"id", "messages": [...], then what the events told about the chat}: the messages are
    written as they are read, the chat's fields after them."""
    chat: dict[str, Any] = {"title": None, "deleted": False}
    entry.write(b'{"id":' + json.dumps(chat_id).encode() + b',"messages":[')
    first = True
    async for recorded in read_trail(events.js, [selection]):
        event = recorded.payload or {}
        kind = event.get("type")
        if kind == "chat.message.added":
            if chat["title"] is None and event.get("role") == "user":
                chat["title"] = title_from_message(str(event.get("content", "")))
            message = {
                name: event.get(name)
                for name in ("role", "content", "model_name", "metrics_json", "occurred_at")
            }
            entry.write((b"" if first else b",") + json.dumps(message).encode())
            first = False
            yield None
        elif kind == "chat.session.created":
            chat.update(
                title=event.get("title"),
                created_at=event.get("occurred_at"),
                model_name=event.get("model_name"),
                engine_type=event.get("engine_type"),
            )
        elif kind == "chat.session.model_changed":
            chat.update(model_name=event.get("model_name"), engine_type=event.get("engine_type"))
        elif kind == "chat.session.deleted":
            chat.update(deleted=True, deleted_at=event.get("occurred_at"))
    chat["title"] = chat["title"] or UNTITLED
    entry.write(b"]," + json.dumps(chat)[1:].encode())
