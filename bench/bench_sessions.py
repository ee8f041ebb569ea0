"""Chat sessions: projection throughput, rebuild (replay) speed, list/get latency.

Runs the real stack (embedded NATS JetStream and PostgreSQL, every service as a process), fills
the chat stream by publishing events straight to JetStream (the gateway's write path is not what
is measured here), then measures:

- live projection: events/s from the first publish until the durable consumer's ack floor
  reaches the last event (1 sessions replica, then 3);
- `rebuild`: replay of the whole stream (>= 100,000 events) into fresh tables and the swap;
- list and get latency through the gateway for a user with 10,000 sessions.
"""

import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from contextlib import aclosing
from pathlib import Path

import httpx
import nats
from nats.js import JetStreamContext

from bench.projection_replicas import Drain, backlog_drain, wait_projected
from bench.report import write_section
from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import MessageAdded, SessionCreated
from cortex_contracts.topology import Topology
from cortex_sessions.rebuild import RebuildReport, rebuild
from cortex_sessions.settings import Settings
from tests.support.backends import fresh_database, start_backends
from tests.support.clients import login
from tests.support.stack import Stack, base_env, running_stack

COMMAND = ".venv/bin/python -m bench sessions"
LIVE_EVENTS = 200_000  # ~10 s for one replica: a replica that starts late still finds work
PARTITIONS = 12  # CORTEX_CHAT_PARTITIONS of the run: shares of 12, 6 and 4
REPLAY_EVENTS = 100_000
USER_SESSIONS = 10_000
LATENCY_SAMPLES = 1000
MODEL = "sim-vllm-small"
PUBLISH_WINDOW = 500  # acknowledgements awaited at once


async def publish_chats(
    js: JetStreamContext, topology: Topology, user_id: str, sessions: int, messages_each: int
) -> int:
    """`sessions` chats of `messages_each` messages; returns the last stream sequence."""
    last = 0
    window: list[asyncio.Future[int]] = []

    async def chat() -> int:
        session_id = str(uuid.uuid4())
        subject = topology.chat_subject(user_id, session_id)
        actor = Actor(user_id=user_id)
        created = SessionCreated(
            aggregate_id=session_id,
            actor=actor,
            previous_seq=0,
            model_name=MODEL,
            engine_type="vllm",
            constraints_json={"max_model_len": 8192},
        )
        previous = (await js.publish(subject, created.to_bytes())).seq
        for n in range(messages_each):
            message = MessageAdded(
                aggregate_id=session_id,
                actor=actor,
                previous_seq=previous,
                role="user" if n % 2 == 0 else "assistant",
                content=f"message {n}: " + "lorem ipsum dolor sit amet " * 8,
                model_name=MODEL,
            )
            previous = (await js.publish(subject, message.to_bytes())).seq
        return previous

    for _ in range(sessions):
        window.append(asyncio.ensure_future(chat()))
        if len(window) >= PUBLISH_WINDOW // max(1, messages_each):
            last = max([last, *await asyncio.gather(*window)])
            window = []
    if window:
        last = max([last, *await asyncio.gather(*window)])
    return last


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def timed_gets(client: httpx.AsyncClient, paths: list[str]) -> list[float]:
    """Milliseconds of each GET, one after the other."""
    samples = []
    for path in paths:
        started = time.perf_counter()
        response = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return samples


async def latencies(client: httpx.AsyncClient, paths: list[str]) -> tuple[float, float]:
    samples = await timed_gets(client, paths)
    return percentile(samples, 0.5), percentile(samples, 0.99)


async def measure(stack: Stack, replica_rows: list[str]) -> str:
    topology = Topology(prefix=stack.env["CORTEX_NATS_PREFIX"], chat_partitions=PARTITIONS)
    client_nats = await nats.connect(stack.env["CORTEX_NATS_URL"])
    js = client_nats.jetstream()
    await wait_projected(js, topology, 0)
    lines = []

    drains: list[Drain] = []
    for replicas in (1, 2, 3):
        drains.append(
            await backlog_drain(stack, js, topology, publish_chats, LIVE_EVENTS, replicas)
        )
    one, three = drains[0].rate, drains[2].rate
    lines.append(
        f"| live projection from a backlog of {LIVE_EVENTS:,} events, 1 / 2 / 3 replicas | "
        + " / ".join(f"{d.rate:,.0f}" for d in drains)
        + f" events/s (3 replicas: {three / one:.2f}× of 1) |"
    )
    replica_rows.extend(d.row() for d in drains)

    name, password = stack.create_user()
    async with aclosing(await login(stack.gateway_url, name, password)) as client:
        user_id = (await client.get("/auth/me")).json()["id"]
        last = await publish_chats(js, topology, user_id, USER_SESSIONS, 2)
        await wait_projected(js, topology, last)
        stream_events = (await js.stream_info(topology.chat_stream)).state.last_seq
        if stream_events < REPLAY_EVENTS:
            filler = REPLAY_EVENTS - stream_events
            last = await publish_chats(js, topology, str(uuid.uuid4()), filler // 10 + 1, 9)
            await wait_projected(js, topology, last)

        page = (await client.get("/v1/chat/sessions", params={"limit": 50})).json()
        ids = [s["id"] for s in page["sessions"]]
        cursor = page["next_cursor"]
        for _ in range(100):  # page 100 of 200: keyset pagination costs the same deep down
            cursor = (
                await client.get("/v1/chat/sessions", params={"limit": 50, "cursor": cursor})
            ).json()["next_cursor"]
        await latencies(client, ["/v1/chat/sessions"] * 50)  # warm up
        first = await latencies(client, ["/v1/chat/sessions?limit=50"] * LATENCY_SAMPLES)
        deep = await latencies(
            client, [f"/v1/chat/sessions?limit=50&cursor={cursor}"] * LATENCY_SAMPLES
        )
        rows = await asyncio.to_thread(_session_ids, stack.database_url, user_id, LATENCY_SAMPLES)
        get = await latencies(client, [f"/v1/chat/sessions/{random.choice(rows)}" for _ in rows])
        assert ids
    lines.append(
        f"| list, first page of 50, user with {USER_SESSIONS:,} sessions | "
        f"p50 {first[0]:.1f} ms, p99 {first[1]:.1f} ms |"
    )
    lines.append(f"| list, page 101 of 200 | p50 {deep[0]:.1f} ms, p99 {deep[1]:.1f} ms |")
    lines.append(f"| get, session with 2 messages | p50 {get[0]:.1f} ms, p99 {get[1]:.1f} ms |")

    os.environ.update(stack.env)
    report: RebuildReport = await rebuild(Settings(), progress=False)
    lines.append(
        f"| rebuild: replay {report.events:,} events into fresh tables and swap | "
        f"{report.events_per_sec:,.0f} events/s ({report.seconds:.1f} s) |"
    )
    await client_nats.close()
    return "\n".join(lines)


def _session_ids(database_url: str, user_id: str, count: int) -> list[str]:
    import psycopg

    from tests.support.backends import libpq_url

    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT id::text FROM chat_sessions WHERE user_id = %s LIMIT %s", (user_id, count)
        ).fetchall()
    return [row[0] for row in rows]


def main() -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with start_backends(work) as backends, fresh_database(backends.postgres_url) as database:
            env = base_env(backends.nats_url, database)
            env["CORTEX_LOG_LEVEL"] = "WARNING"
            env["CORTEX_CHAT_PARTITIONS"] = str(PARTITIONS)
            replica_rows: list[str] = []
            with running_stack(env, work) as stack:
                table = asyncio.run(measure(stack, replica_rows))
    body = (
        "Targets: replay >= 10,000 events/s; list and get p99 <= 20 ms (sequential requests, "
        "one logged-in client, through the gateway: cookie check, read-your-writes position, "
        "NATS request to the sessions service, PostgreSQL). The 10,000 sessions are published "
        "as events and projected just before (no ANALYZE in between).\n\n"
        f"| measurement | result |\n|---|---|\n{table}\n\n"
        f"Load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} "
        "(the machine is shared: under a load of 5-10 the p99 latencies measured 20-40 ms). "
        f"\n\n### Live projection with partitions\n\n{PARTITIONS} partitions "
        "(`CORTEX_CHAT_PARTITIONS`), chats of 10 events spread over them by session; each "
        "partition is pulled by the one replica holding its lease. The replicas start on one "
        "backlog; timing starts once the partitions are shared out and counts the events still "
        "unacknowledged then. CPU is each replica process's user+system time while draining "
        "(the machine's 2 cores are shared with NATS, PostgreSQL and other work).\n\n"
        "| replicas | events | events/s | CPU s per 1,000 events, each replica | "
        "CPU s per 1,000 events, all | partitions per replica |\n"
        "|---:|---:|---:|---|---:|---|\n" + "\n".join(replica_rows) + "\n"
    )
    print(body)
    write_section("sessions", COMMAND, body)


if __name__ == "__main__":
    sys.exit(main())
