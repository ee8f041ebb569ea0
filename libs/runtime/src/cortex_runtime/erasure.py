"""Erasure of subjects from the event store: their events, their dead-letter copies and their
chain heads (docs/audit.md, "Erasure and retention").

Every step is idempotent, and the order makes a run that stops halfway safe to run again:

1. list the subjects that still hold events (a retry after step 3 finds none: nothing to do);
2. delete their chain heads (a deleted head reads as "erased on purpose" to verify --integrity,
   so a chat whose head is gone but whose events remain does not raise a false alarm);
3. purge the subjects (a JetStream purge with a subject filter);
4. delete every copy the dead-letter stream holds of an event of those subjects (found by its
   `Cortex-Subject` header); deletes are secure erasures (JetStream overwrites the message).
"""

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from cortex_contracts.topology import Topology
from cortex_runtime import anchors, chain
from cortex_runtime.reader import StreamReader

log = logging.getLogger(__name__)

READ_TIMEOUT_SEC = 5.0
ORIGINAL_SUBJECT = "Cortex-Subject"  # the header a dead-letter copy names its original with


@dataclass(frozen=True)
class Erased:
    subjects: int
    events: int
    dead_letter_copies: int


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: `*` is one token, a final `>` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)


async def erase_subjects(
    js: JetStreamContext, topology: Topology, *, stream: str, filters: Sequence[str]
) -> Erased:
    """Remove every event of `stream` on a subject matching one of `filters` (see the module)."""
    subjects: dict[str, int] = {}
    for pattern in filters:
        info = await js.stream_info(stream, subjects_filter=pattern)
        subjects.update(info.state.subjects or {})
    heads = await js.key_value(topology.chain_heads_bucket)
    for subject in subjects:
        await heads.delete(subject)  # a delete marker: no history of the head is kept
        chain.remember_head(subject, None)  # this process must not link to an erased event
        anchors.forget(subject)
    for pattern in filters:
        if any(subject_matches(pattern, subject) for subject in subjects):
            await js.purge_stream(stream, subject=pattern)
    copies = await _erase_dead_letter_copies(js, topology, filters)
    erased = Erased(len(subjects), sum(subjects.values()), copies)
    log.info("erased %s subjects of %s: %s", erased.subjects, stream, erased)
    return erased


async def _erase_dead_letter_copies(
    js: JetStreamContext, topology: Topology, filters: Sequence[str]
) -> int:
    """Reads the whole dead-letter stream (kept 30 days, so small) for copies to delete."""
    dead_letter_stream = topology.dead_letter_stream
    try:
        info = await js.stream_info(dead_letter_stream)
    except NotFoundError:
        return 0
    if not info.state.messages:
        return 0
    target = info.state.last_seq
    doomed: list[int] = []
    reader = StreamReader(js, dead_letter_stream, topology.dead_letter_subject(">"))
    await reader.start()
    try:
        while True:
            batch = await reader.take(READ_TIMEOUT_SEC)
            if not batch:
                raise TimeoutError(
                    f"{dead_letter_stream}: nothing arrived for {READ_TIMEOUT_SEC} s"
                )
            for copy in batch:
                original = (copy.headers or {}).get(ORIGINAL_SUBJECT, "")
                if any(subject_matches(pattern, original) for pattern in filters):
                    doomed.append(copy.seq)
            if batch[-1].seq >= target or reader.at_end:
                break
    finally:
        await reader.stop()
    for seq in doomed:
        with contextlib.suppress(NotFoundError):  # deleted by a run before this one
            await js.delete_msg(dead_letter_stream, seq)
    return len(doomed)
