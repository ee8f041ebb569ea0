"""Writing a chain's head (chain.py): after each event, or at most once per interval per subject.

A usage subject takes an event for every completion of its model: at a hundred completions a
second, a head write after each one was a third of the gateway's CPU per completion (a JetStream
publish and its acknowledgement; bench/bench_gateway.py). Publishers of such subjects ask for
coalesced heads (`publish_event(..., coalesce_head=True)`): a subject's first head after a quiet
spell of HEAD_INTERVAL_SEC is written at once, as for every other subject; the heads that follow
within the interval are held, and only the newest of them is written when it ends. So the head
lags the newest event by at most HEAD_INTERVAL_SEC (docs/audit.md, Limits); `flush()` writes the
held heads at once (a service stopping).

A held head is written on condition that the key is still at this process's last write of it
(nats-py's `KeyValue.update`): an erasure that deleted the key meanwhile is never undone by a late
head. If another process wrote the key meanwhile, it is read; a delete marker ends the matter, a
head is written over.
"""

import asyncio
import logging
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from cortex_runtime import chain

log = logging.getLogger(__name__)

HEAD_INTERVAL_SEC = 0.1
CONDITIONAL_ATTEMPTS = 3
_SUBJECTS_MAX = 10_000


@dataclass
class _Subject:
    written_at: float  # the event loop's time of the last head write
    revision: int | None  # the key's revision that write made (None: it failed)
    held: chain.Head | None = None
    writer: asyncio.Task[None] | None = None
    wake: asyncio.Future[None] | None = None  # resolved by flush(): write without waiting
    heads: KeyValue | None = None  # the heads bucket, for the held writes

    def idle(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Nothing held here (a writer of a closed event loop, in tests, counts as none)."""
        return self.writer is None or self.writer.get_loop() is not loop


_SUBJECTS: dict[str, _Subject] = {}


async def anchor(js: JetStreamContext, subject: str, head: chain.Head, *, coalesce: bool) -> None:
    """Record `head` as the subject's newest (called in the subject's publishing turn)."""
    if not coalesce:
        await chain.anchor_head(js, subject, head.seq, head.hash)
        return
    loop = asyncio.get_running_loop()
    now = loop.time()
    state = _SUBJECTS.get(subject)
    if state is None or (state.idle(loop) and now - state.written_at >= HEAD_INTERVAL_SEC):
        revision = await chain.anchor_head(js, subject, head.seq, head.hash)
        _remember(subject, _Subject(written_at=now, revision=revision))
        return
    state.held = head
    if state.idle(loop):
        wait = state.written_at + HEAD_INTERVAL_SEC - now
        state.writer = loop.create_task(_write_held(js, subject, state, wait))


def forget(subject: str) -> None:
    """The subject was erased in this process: nothing of it is written any more."""
    state = _SUBJECTS.pop(subject, None)
    if state is not None:
        state.held = None


async def flush() -> None:
    """Write every held head now, and wait until they are written."""
    loop = asyncio.get_running_loop()
    busy = [state for state in _SUBJECTS.values() if not state.idle(loop)]
    for state in busy:
        if state.wake is not None and not state.wake.done():
            state.wake.set_result(None)
    await asyncio.gather(*(state.writer for state in busy if state.writer), return_exceptions=True)


async def _write_held(js: JetStreamContext, subject: str, state: _Subject, wait: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        while True:
            await _pause(state, wait)
            head, state.held = state.held, None
            if head is None:
                return
            state.revision = await _write_if_unchanged(js, subject, head, state)
            state.written_at = loop.time()
            wait = HEAD_INTERVAL_SEC  # heads held meanwhile wait for the next interval's end
    finally:
        state.writer = state.wake = None


async def _pause(state: _Subject, seconds: float) -> None:
    """Until `seconds` have passed, or flush() asks for the write."""
    if seconds <= 0 or (state.wake is not None and state.wake.done()):
        return
    state.wake = asyncio.get_running_loop().create_future()
    await asyncio.wait({state.wake}, timeout=seconds)


async def _write_if_unchanged(
    js: JetStreamContext, subject: str, head: chain.Head, state: _Subject
) -> int | None:
    """The key's new revision; None when it was erased meanwhile or could not be written."""
    value = chain.HeadAnchor(head.seq, head.hash).to_bytes()
    revision = state.revision
    try:
        if state.heads is None:
            state.heads = await js.key_value(chain.heads_bucket(subject))
        for _ in range(CONDITIONAL_ATTEMPTS):
            if revision is None:  # written by another process meanwhile, or erased: read it
                try:
                    revision = (await state.heads.get(subject, validate_keys=False)).revision
                except KeyNotFoundError as missing:
                    if missing.op in (KV_DEL, KV_PURGE):
                        forget(subject)
                        return None
                    revision = 0  # never written
            try:
                return await state.heads.update(subject, value, last=revision, validate_keys=False)
            except KeyWrongLastSequenceError:
                revision = None
        log.info("chain head of %s not recorded: the key kept changing", subject)
    except nats.errors.Error as error:
        log.warning("chain head of %s not recorded: %s", subject, error)
    return None


def _remember(subject: str, state: _Subject) -> None:
    if len(_SUBJECTS) >= _SUBJECTS_MAX:
        loop = asyncio.get_running_loop()
        for name in [name for name, kept in _SUBJECTS.items() if kept.idle(loop)]:
            del _SUBJECTS[name]
    _SUBJECTS[subject] = state
