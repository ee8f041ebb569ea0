"""`verify` over a large chat stream (default 1,000,000 events; `CORTEX_BENCH_VERIFY_EVENTS`):
the projection verify (`cortex-sessions verify`: replay into scratch tables and compare) and the
integrity check (`cortex-audit verify --integrity`), events/s of each, in one run.

The load is written fast and directly: chained events (the headers `publish_event` writes,
computed here) published by one connection, IN_FLIGHT acknowledgements awaited at a time, so the
stream sequences are known in advance and every `previous_seq` is right; an acknowledgement at
another sequence stops the run. (Publishing without acknowledgements, as this did first, let
JetStream drop messages under load and shifted every later sequence.) No chain heads are
recorded (only the per-event links are checked). The live tables are then filled by
`cortex-sessions rebuild` (no service runs: nothing else writes meanwhile).
"""

import asyncio
import os
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path

import nats
from nats.js.api import PubAck

from bench.bench_sessions import MODEL
from cortex_audit.verify import verify_integrity
from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import MessageAdded, SessionCreated
from cortex_contracts.topology import Topology
from cortex_runtime.chain import GENESIS, HASH, PREV_HASH, chain_hash
from cortex_runtime.connection import connect
from cortex_runtime.jetstream import EXPECTED_SUBJECT_SEQ, MSG_ID, ensure_streams
from cortex_runtime.verification import BarProgress
from cortex_sessions.rebuild import rebuild
from cortex_sessions.settings import Settings
from cortex_sessions.verify import verify
from tests.support.backends import fresh_database, start_backends
from tests.support.stack import base_env, migrate

EVENTS = int(os.environ.get("CORTEX_BENCH_VERIFY_EVENTS", "1000000"))
PER_CHAT = 10  # a creation and 9 messages
IN_FLIGHT = 1_000  # publishes awaiting their acknowledgement
TEXT = "a question about the weather, and then another one " * 2


async def load(js: nats.js.JetStreamContext, topology: Topology) -> int:
    """EVENTS chat events, chats interleaved (as many users write at once); the count stored."""
    chats = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(max(1, EVENTS // PER_CHAT))]
    last_seq = {session: 0 for _, session in chats}
    last_hash = {session: GENESIS for _, session in chats}
    first = int((await js.stream_info(topology.chat_stream)).state.last_seq or 0)
    in_flight: deque[tuple[asyncio.Future[PubAck], int]] = deque()

    async def settle_oldest() -> None:
        acknowledged, seq = in_flight.popleft()
        ack = await acknowledged
        assert ack.seq == seq and not ack.duplicate, f"event {seq} stored at {ack.seq}"

    seq = first
    for turn in range(PER_CHAT):
        for user, session in chats:
            actor, previous = Actor(user_id=user), last_seq[session]
            event = (
                SessionCreated(
                    aggregate_id=session, actor=actor, previous_seq=0, model_name=MODEL,
                    engine_type="vllm",
                )
                if turn == 0
                else MessageAdded(
                    aggregate_id=session, actor=actor, previous_seq=previous,
                    role="user" if turn % 2 else "assistant", content=f"{turn}: {TEXT}",
                    model_name=MODEL,
                )
            )  # fmt: skip
            subject, payload = topology.chat_subject(user, session), event.to_bytes()
            own = chain_hash(last_hash[session], subject, payload)
            headers = {
                MSG_ID: str(event.event_id),
                EXPECTED_SUBJECT_SEQ: str(previous),
                PREV_HASH: last_hash[session],
                HASH: own,
            }
            seq += 1
            in_flight.append(
                (asyncio.ensure_future(js.publish(subject, payload, headers=headers)), seq)
            )
            if len(in_flight) >= IN_FLIGHT:
                await settle_oldest()
            last_seq[session], last_hash[session] = seq, own
    while in_flight:
        await settle_oldest()
    return seq - first


async def measure(env: dict[str, str]) -> str:
    os.environ.update(env)
    settings = Settings()
    topology = settings.topology
    client = await connect(settings.nats_url, "bench-verify-scale")
    try:
        js = client.jetstream()
        await ensure_streams(js, topology)
        started = time.perf_counter()
        stored = await load(js, topology)
        load_sec = time.perf_counter() - started
        rebuilt = await rebuild(settings, progress=False)
        bar = BarProgress("verify", enabled=False)
        started = time.perf_counter()
        report = await verify(settings, js, bar, 10)
        verify_sec = time.perf_counter() - started
        started = time.perf_counter()
        integrity = await verify_integrity(js, topology)
        integrity_sec = time.perf_counter() - started
    finally:
        await client.close()
    assert report.drift == 0, report.differences
    findings = [f for r in integrity for f in r.findings]
    assert not findings, findings[:5]
    chained = next(r for r in integrity if r.stream == topology.chat_stream).events
    return "\n".join(
        [
            f"| load: {stored:,} chained chat events published ({load_sec:.0f} s), "
            f"`cortex-sessions rebuild` of them | {rebuilt.events_per_sec:,.0f} events/s "
            f"({rebuilt.seconds:.1f} s) |",
            f"| projection verify (`cortex-sessions verify`), {report.events:,} events, "
            f"{sum(t.live_rows for t in report.tables):,} rows compared | "
            f"{report.events / verify_sec:,.0f} events/s ({verify_sec:.1f} s) |",
            f"| `verify --integrity`, {chained:,} events | "
            f"{chained / integrity_sec:,.0f} events/s ({integrity_sec:.1f} s) |",
        ]
    )


def main() -> None:
    """`python -m bench.verify_scale`: this part of `python -m bench audit` alone, printed."""
    with (
        tempfile.TemporaryDirectory() as folder,
        start_backends(Path(folder)) as backends,
        fresh_database(backends.postgres_url) as database,
    ):
        env = {**base_env(backends.nats_url, database), "CORTEX_LOG_LEVEL": "WARNING"}
        migrate(env)
        print(asyncio.run(measure(env)))


if __name__ == "__main__":
    main()
