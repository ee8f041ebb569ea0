"""Tamper evidence: the hash chain's cost on the write path, and `verify --integrity`'s speed.

Runs the real stack (embedded NATS JetStream and PostgreSQL, every service as a process) with a
second gateway whose chain is switched off (CORTEX_HASH_CHAIN=off, a switch for this measurement
only), then measures in the same run:

- the p50/p99 of a message POST (`POST /v1/chat/sessions/{id}/messages`, sequential, one logged-in
  client) through each gateway, in alternating rounds so both see the same load;
- `verify --integrity` over the chat stream: chats published through the runtime (so chained),
  read and checked, events/s;
- `verify` at scale (bench/verify_scale.py, CORTEX_BENCH_VERIFY_EVENTS events, 1,000,000 by
  default) on a database of its own: the projection verify and the integrity check, events/s.
"""

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import nats

from bench import verify_scale
from bench.bench_sessions import percentile
from bench.report import write_section
from cortex_audit.verify import verify_integrity
from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import MessageAdded, SessionCreated
from cortex_contracts.topology import Topology
from cortex_runtime.jetstream import publish_event
from tests.support.backends import fresh_database, start_backends
from tests.support.chat import MODEL, create_session, topology_of
from tests.support.clients import login
from tests.support.stack import Stack, base_env, migrate, running_stack

COMMAND = ".venv/bin/python -m bench audit  # CORTEX_BENCH_VERIFY_EVENTS=1000000 by default"
QUIET = {"CORTEX_LOG_LEVEL": "WARNING"}
ROUNDS = 10
POSTS_PER_ROUND = 100  # per gateway and round: 1,000 message POSTs each in all
VERIFY_CHATS = 5_000
VERIFY_MESSAGES_EACH = 9  # 50,000 events
PUBLISH_WINDOW = 200  # chats written at once


async def post_latencies(client: httpx.AsyncClient, session_id: str, count: int) -> list[float]:
    samples = []
    for n in range(count):
        started = time.perf_counter()
        response = await client.post(
            f"/v1/chat/sessions/{session_id}/messages", json={"role": "user", "content": f"m{n}"}
        )
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.text
    return samples


async def write_path(stack: Stack, unchained_url: str) -> dict[str, list[float]]:
    name, password = stack.create_user()
    clients = {
        "with the chain": await login(stack.gateway_url, name, password),
        "without the chain": await login(unchained_url, name, password),
    }
    samples: dict[str, list[float]] = {label: [] for label in clients}
    for client in clients.values():  # warm up both
        await post_latencies(client, await create_session(client), 20)
    for _ in range(ROUNDS):
        for label, client in clients.items():
            session_id = await create_session(client)  # a fresh chat: no long history to load
            samples[label] += await post_latencies(client, session_id, POSTS_PER_ROUND)
    for client in clients.values():
        await client.aclose()
    return samples


async def chained_chats(js: nats.js.JetStreamContext, topology: Topology) -> int:
    async def chat() -> None:
        user, session = str(uuid.uuid4()), str(uuid.uuid4())
        subject, actor = topology.chat_subject(user, session), Actor(user_id=user)
        created = SessionCreated(
            aggregate_id=session, actor=actor, previous_seq=0, model_name=MODEL, engine_type="vllm"
        )
        last = (await publish_event(js, subject, created, expected_last_subject_seq=0)).seq
        for n in range(VERIFY_MESSAGES_EACH):
            message = MessageAdded(
                aggregate_id=session,
                actor=actor,
                previous_seq=last,
                role="user",
                content=f"message {n}: " + "lorem ipsum dolor sit amet " * 8,
                model_name=MODEL,
            )
            ack = await publish_event(js, subject, message, expected_last_subject_seq=last)
            last = ack.seq

    for start in range(0, VERIFY_CHATS, PUBLISH_WINDOW):
        await asyncio.gather(*(chat() for _ in range(min(PUBLISH_WINDOW, VERIFY_CHATS - start))))
    return VERIFY_CHATS * (VERIFY_MESSAGES_EACH + 1)


async def measure(stack: Stack, unchained_url: str) -> str:
    samples = await write_path(stack, unchained_url)
    lines = [
        f"| message POST p50 / p99, {label} | "
        f"{percentile(values, 0.5):.1f} ms / {percentile(values, 0.99):.1f} ms |"
        for label, values in samples.items()
    ]
    topology = topology_of(stack)
    client = await nats.connect(stack.env["CORTEX_NATS_URL"])
    try:
        js = client.jetstream()
        published = await chained_chats(js, topology)
        started = time.perf_counter()
        reports = await verify_integrity(js, topology)
        seconds = time.perf_counter() - started
    finally:
        await client.close()
    events = sum(report.events for report in reports)
    findings = [finding for report in reports for finding in report.findings]
    # the unchained gateway's audit events follow chained ones on shared subjects (logins)
    assert {finding.kind for finding in findings} <= {"unchained"}, findings[:5]
    lines.append(
        f"| verify --integrity, {events:,} events ({published:,} chat events published for it) | "
        f"{events / seconds:,.0f} events/s ({seconds:.1f} s) |"
    )
    return "\n".join(lines)


def main() -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with start_backends(work) as backends, fresh_database(backends.postgres_url) as database:
            env = base_env(backends.nats_url, database)
            env.update(QUIET)
            with running_stack(env, work) as stack:
                unchained = stack.start_extra("gateway", CORTEX_HASH_CHAIN="off")
                table = asyncio.run(measure(stack, unchained.url))
            with fresh_database(backends.postgres_url) as scale_database:
                scale_env = {**base_env(backends.nats_url, scale_database), **QUIET}
                migrate(scale_env)
                table += "\n" + asyncio.run(verify_scale.measure(scale_env))
    body = (
        "The hash chain (docs/audit.md) on the write path: per message one more NATS publish (the "
        "chain's head to the chain-heads bucket) and, when another process wrote the chat since, "
        "one direct get; the hash itself is a sha256 of the event. Both gateways share one NATS, "
        "PostgreSQL and sessions service and are measured in alternating rounds "
        f"({ROUNDS} x {POSTS_PER_ROUND} sequential POSTs each).\n\n"
        f"| measurement | result |\n|---|---|\n{table}\n\n"
        f"Load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} "
        "(the machine is shared).\n"
    )
    print(body)
    write_section("audit", COMMAND, body)


if __name__ == "__main__":
    sys.exit(main())
