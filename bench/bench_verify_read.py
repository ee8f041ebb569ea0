"""The read under every `verify`: `cortex_runtime.reader.read_through` against the reader it
replaced (nats-py's `fetch` of 2,000 at a time, `msg.metadata` per message), in the same run, on
one embedded NATS: events/s of the read alone, and of the integrity check of the chat stream
(the read plus `ChainCheck`, what `verify --integrity` does per stream).

The load is bench/verify_scale.py's (chained chat events, CORTEX_BENCH_VERIFY_EVENTS, 200,000
here by default). Each measurement runs ROUNDS times, the two readers alternating, so both see
the same machine load; the best round of each is reported, and the ratio of the two.
"""

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.report import write_section
from cortex_audit.integrity import ChainCheck
from cortex_contracts.topology import Topology
from cortex_devstack.embedded import EmbeddedNats
from cortex_devstack.ports import free_port
from cortex_runtime.jetstream import ensure_streams
from cortex_runtime.reader import StoredEvent, read_through

os.environ.setdefault("CORTEX_BENCH_VERIFY_EVENTS", "200000")
from bench import verify_scale  # reads the size when imported, so after the default above

COMMAND = ".venv/bin/python -m bench verify_read  # CORTEX_BENCH_VERIFY_EVENTS=200000 by default"
ROUNDS = 3
Reader = Callable[[JetStreamContext, str, str, int], AsyncIterator[list[StoredEvent]]]


async def fetch_reader(
    js: JetStreamContext, stream: str, subjects: str, target: int
) -> AsyncIterator[list[StoredEvent]]:
    """The baseline: read_through as it was before (nats-py fetch, msg.metadata)."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE)
    pulled = await js.pull_subscribe(subjects, stream=stream, config=config)
    try:
        while True:
            messages = await pulled.fetch(2_000, timeout=5.0)
            batch = [
                StoredEvent(m.metadata.sequence.stream, m.subject, m.data, m.headers)
                for m in messages
            ]
            yield [event for event in batch if event.seq <= target]
            if batch[-1].seq >= target:
                return
    finally:
        await pulled.unsubscribe()


async def pipelined_reader(
    js: JetStreamContext, stream: str, subjects: str, target: int
) -> AsyncIterator[list[StoredEvent]]:
    async for batch in read_through(js, stream, subjects, target):
        yield batch


async def timed(reader: Reader, js: JetStreamContext, topology: Topology, check: bool) -> float:
    stream, subjects = topology.chat_stream, topology.chat_all_subjects
    target = int((await js.stream_info(stream)).state.last_seq or 0)
    chain, count = ChainCheck(stream), 0
    started = time.perf_counter()
    async for batch in reader(js, stream, subjects, target):
        count += len(batch)
        if check:
            for event in batch:
                chain.add(event)
    seconds = time.perf_counter() - started
    assert count == target, (count, target)
    assert not chain.finish({}), chain.findings[:5]
    return count / seconds


async def measure(nats_url: str) -> str:
    topology = Topology(prefix="bench")
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, topology)
        stored = await verify_scale.load(js, client, topology)
        readers: dict[str, Reader] = {"before": fetch_reader, "after": pipelined_reader}
        rows = []
        for label, check in (("read alone", False), ("read + chain check", True)):
            best = {name: 0.0 for name in readers}
            for _ in range(ROUNDS):
                for name, reader in readers.items():
                    best[name] = max(best[name], await timed(reader, js, topology, check))
            rows.append(
                f"| {label}, {stored:,} events | {best['before']:,.0f} events/s | "
                f"{best['after']:,.0f} events/s | {best['after'] / best['before']:.1f} x |"
            )
    finally:
        await client.close()
    return "\n".join(rows)


def main() -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cortex-bench-") as folder:
        server = EmbeddedNats(Path(folder) / "nats", free_port())
        server.start(log_file=Path(folder) / "nats.log")
        try:
            table = asyncio.run(measure(server.url))
        finally:
            server.stop()
    body = (
        "The read under `verify` (bench/bench_verify_read.py): before = nats-py `fetch` of 2,000 "
        "with `msg.metadata` per message (the old read_through); after = read_through's "
        "pipelined pull (two pull requests of 5,000 in flight, sequences read from the "
        f"reply subject). Best of {ROUNDS} alternating rounds each, one process, one NATS.\n\n"
        "| measurement | before | after | after / before |\n|---|---|---|---|\n"
        f"{table}\n\nLoad average (1 min) before/after: {load_before:.1f}/"
        f"{os.getloadavg()[0]:.1f} on 2 shared cores: absolute figures are load-bound, the "
        "ratio (same run) is the comparable figure.\n"
    )
    print(body)
    write_section("verify-read", COMMAND, body)


if __name__ == "__main__":
    sys.exit(main())
