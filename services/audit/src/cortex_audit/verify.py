"""Reads the event streams and the chain heads for the integrity check."""

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE
from tqdm import tqdm

from cortex_audit.integrity import ChainCheck, Finding
from cortex_contracts.topology import Topology
from cortex_runtime.chain import HeadAnchor
from cortex_runtime.reader import StoredEvent, read_through

READ_TIMEOUT_SEC = 5.0


@dataclass(frozen=True)
class StreamReport:
    stream: str
    events: int
    legacy_events: int  # stored before the chain existed: not checked
    findings: list[Finding]


def event_streams(topology: Topology) -> list[tuple[str, str]]:
    """The streams every event is published to through the runtime (so carry the chain)."""
    return [
        (topology.chat_stream, topology.chat_all_subjects),
        (topology.usage_stream, topology.usage_all_subjects),
        (topology.audit_stream, topology.audit_all_subjects),
        (topology.erasure_stream, topology.erasure_all_subjects),
    ]


async def verify_integrity(
    js: JetStreamContext, topology: Topology, *, progress: bool = False
) -> list[StreamReport]:
    heads = await recorded_heads(js, topology)
    reports = []
    for stream, subjects in event_streams(topology):
        check = ChainCheck(stream)
        with tqdm(desc=stream, unit=" events", disable=not progress, file=sys.stderr) as bar:
            async for batch in read_to_end(js, stream, subjects):
                for event in batch:
                    check.add(event)
                bar.update(check.events - bar.n)
        stream_heads = {s: h for s, h in heads.items() if s.startswith(subjects.rstrip(">"))}
        findings = check.finish(stream_heads)
        reports.append(StreamReport(stream, check.events, check.legacy_events, findings))
    return reports


async def recorded_heads(js: JetStreamContext, topology: Topology) -> dict[str, HeadAnchor]:
    """Subject -> its chain's recorded head (the chain-heads bucket, read as its stream)."""
    bucket = topology.chain_heads_bucket
    key_start = len(f"$KV.{bucket}.")
    heads: dict[str, HeadAnchor] = {}
    async for batch in read_to_end(js, f"KV_{bucket}", f"$KV.{bucket}.>"):
        for entry in batch:
            subject = entry.subject[key_start:]
            if (entry.headers or {}).get(KV_OP) in (KV_DEL, KV_PURGE):
                heads.pop(subject, None)  # erased on purpose, with the chat it anchored
            else:
                heads[subject] = HeadAnchor.from_bytes(entry.data)
    return heads


async def read_to_end(
    js: JetStreamContext, stream: str, subjects: str
) -> AsyncIterator[list[StoredEvent]]:
    """Every message of the stream stored when the read starts, in order, in batches."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return
    if not info.state.messages:
        return
    async for batch in read_through(js, stream, subjects, info.state.last_seq, READ_TIMEOUT_SEC):
        yield batch
