"""Backup and restore of the event store: every stream, KV buckets included (a bucket is the
stream KV_<bucket>), with each message's subject, headers and stream sequence.

The file is gzip'd JSON lines: a header, then per stream its configuration and sequence range
followed by its messages in order, then an end line with the counts (a truncated file is
refused). A backup runs beside the live system: each stream is read up to its last sequence
when its turn comes (an ordered consumer, as replays read).

Sequences are reproduced on restore, because the projections' stored positions, the hash
chain's anchors and the KV revisions name them. JetStream numbers what it stores itself, so:
the stream is created with `first_seq` = the backup's first sequence; a gap (a deleted message)
is filled by a filler message on a subject of the stream no event uses, deleted once the
stream is restored; trailing deletions likewise, so that the next write gets the sequence it
would have had. Each message is published with its original headers: the concurrency checks
they carry (Nats-Expected-*) pass again since the sequences are the same, except where the
message a check names is gone (a KV key keeps its last revision only, so the revision its update
named was dropped): that check is left out, as it can only fail. A stream that
refuses deletions (deny_delete, as KV buckets do) is created allowing them and set back to its
configuration at the end. The stream's own timestamps are those of the restore (the events
carry the time they happened).
"""

import asyncio
import base64
import gzip
import json
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from nats.js import JetStreamContext
from nats.js.api import PubAck, StreamConfig
from nats.js.errors import BadRequestError

from cortex_runtime.jetstream import EXPECTED_SUBJECT_SEQ
from cortex_runtime.reader import StreamReader

log = logging.getLogger(__name__)

FORMAT = "cortex-backup"
VERSION = 1
FILLER_HEADER = "Cortex-Restore-Filler"
WINDOW = 512  # publishes in flight during a restore
RESTORE_DUPLICATE_WINDOW_NS = 100_000_000  # 100 ms, the least JetStream takes
SEQUENCE_NOT_FOUND = 10043


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class Summary:
    streams: int
    messages: int


async def backup(js: JetStreamContext, path: Path) -> Summary:
    """Every stream of the account to `path` (written to a temporary name, then renamed)."""
    partial = path.with_name(path.name + ".partial")
    streams = messages = 0
    with gzip.open(partial, "wt", encoding="utf-8") as out:
        _line(out, type="header", format=FORMAT, version=VERSION, created_at=_now())
        for info in await js.streams_info():
            config = info.config
            if config.mirror or config.sources:
                continue  # restored from their origin
            count = await _backup_stream(js, config, out)
            streams, messages = streams + 1, messages + count
        _line(out, type="end", streams=streams, messages=messages)
    partial.rename(path)
    return Summary(streams, messages)


async def _backup_stream(js: JetStreamContext, config: StreamConfig, out: IO[str]) -> int:
    assert config.name is not None
    subjects = config.subjects or []
    if len(subjects) != 1:
        raise BackupError(f"stream {config.name}: one subject filter expected, not {subjects}")
    state = (await js.stream_info(config.name)).state
    last = int(state.last_seq or 0)
    _line(
        out,
        type="stream",
        config=config.as_dict(),
        first_seq=int(state.first_seq or 0),
        last_seq=last,
    )
    count = 0
    if not state.messages:
        return count
    reader = StreamReader(js, config.name, subjects[0])
    await reader.start()
    try:
        seq = 0
        while seq < last and not reader.at_end:  # at_end: the rest of `last` was deleted
            batch = await reader.take(timeout=10)
            if not batch:
                raise BackupError(f"stream {config.name}: nothing read after sequence {seq}")
            for event in batch:
                if event.seq > last:
                    return count  # written after this stream's backup began
                seq = event.seq
                _line(
                    out,
                    type="message",
                    seq=event.seq,
                    subject=event.subject,
                    headers=event.headers or {},
                    data=base64.b64encode(event.data).decode(),
                )
                count += 1
    finally:
        await reader.stop()
    return count


async def restore(js: JetStreamContext, path: Path) -> Summary:
    """Loads `path` into an account with no stream (refused otherwise)."""
    existing = [info.config.name for info in await js.streams_info()]
    if existing:
        raise BackupError(f"NATS is not empty (streams: {', '.join(map(str, existing))})")
    lines = _read(path)
    header = next(lines, None)
    if not header or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise BackupError(f"{path} is not a {FORMAT} file of version {VERSION}")
    stream: _Restoring | None = None
    streams = messages = 0
    for line in lines:
        if line["type"] == "end":
            if stream is not None:
                await stream.finish()
            if (line["streams"], line["messages"]) != (streams, messages):
                raise BackupError(f"{path}: counts do not match its end line")
            return Summary(streams, messages)
        if line["type"] == "stream":
            if stream is not None:
                await stream.finish()
            stream = await _Restoring.create(js, line)
            streams += 1
        elif line["type"] == "message":
            assert stream is not None
            await stream.put(line)
            messages += 1
    raise BackupError(f"{path} is truncated (no end line)")


class _Restoring:
    """One stream being restored: messages at their sequences, gaps filled then deleted."""

    def __init__(self, js: JetStreamContext, config: StreamConfig, last_seq: int) -> None:
        self.js = js
        self.config = config
        self.name = str(config.name)
        self.last_seq = last_seq
        self.next_seq = int(config.first_seq or 1)
        self.fillers: list[int] = []
        self.last_of_subject: dict[str, int] = {}
        self.pending: deque[tuple[asyncio.Future[PubAck], int]] = deque()
        subject = (config.subjects or [">"])[0]
        self.filler_subject = ".".join(
            "_restore_filler" if token in ("*", ">") else token for token in subject.split(".")
        )

    @classmethod
    async def create(cls, js: JetStreamContext, line: dict[str, Any]) -> "_Restoring":
        config = StreamConfig.from_response(dict(line["config"]))
        first = max(int(line["first_seq"]), 1)
        creating = StreamConfig.from_response(
            {
                **config.as_dict(),
                "first_seq": first,
                "deny_delete": False,
                # The original window deduped at write time; here every message is stored
                # again, even one whose id came back after its window had passed.
                "duplicate_window": RESTORE_DUPLICATE_WINDOW_NS,
            }
        )
        await js.add_stream(creating)
        config.first_seq = first  # JetStream keeps it; an update may not change it
        restoring = cls(js, config, int(line["last_seq"]))
        restoring.next_seq = first
        return restoring

    async def put(self, line: dict[str, Any]) -> None:
        seq, subject, headers = int(line["seq"]), line["subject"], line["headers"]
        expected = headers.get(EXPECTED_SUBJECT_SEQ)
        if expected is not None and int(expected) != self.last_of_subject.get(subject, 0):
            headers = {k: v for k, v in headers.items() if k != EXPECTED_SUBJECT_SEQ}
        self.last_of_subject[subject] = seq
        await self._fill_to(seq)
        await self._send(subject, base64.b64decode(line["data"]), headers, seq)

    async def finish(self) -> None:
        await self._fill_to(self.last_seq + 1)
        while self.pending:
            await self._settle_oldest()
        for seq in self.fillers:
            try:
                await self.js.delete_msg(self.name, seq)
            except BadRequestError as error:
                if error.err_code != SEQUENCE_NOT_FOUND:
                    raise  # else: a per-subject limit dropped it already
        await self.js.update_stream(self.config)

    async def _fill_to(self, seq: int) -> None:
        while self.next_seq < seq:
            self.fillers.append(self.next_seq)
            await self._send(self.filler_subject, b"", {FILLER_HEADER: "1"}, self.next_seq)

    async def _send(self, subject: str, data: bytes, headers: dict[str, str], seq: int) -> None:
        """Publishes are pipelined (WINDOW in flight, sent in order on one connection); each
        acknowledgement must name the sequence the message had."""
        publish = self.js.publish(subject, data, headers=headers or None)
        self.pending.append((asyncio.ensure_future(publish), seq))
        self.next_seq = seq + 1
        if len(self.pending) >= WINDOW:
            await self._settle_oldest()

    async def _settle_oldest(self) -> None:
        task, seq = self.pending.popleft()
        ack = await task
        if ack.seq != seq or ack.duplicate:
            raise BackupError(f"stream {self.name}: message {seq} stored at {ack.seq}")


def _line(out: IO[str], **fields: Any) -> None:
    out.write(json.dumps(fields, separators=(",", ":")) + "\n")


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def _now() -> str:
    return datetime.now(UTC).isoformat()
