"""`cortex-audit export` streams: a user with 100,000 events exports in about the memory of a
user with 10,000 (the console script's peak RSS, measured; docs/audit.md)."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import pytest
from nats.js import JetStreamContext

from cortex_contracts.envelope import Actor
from cortex_contracts.events.audit import AuditRecorded
from cortex_contracts.events.chat import MessageAdded
from cortex_contracts.topology import Topology
from cortex_runtime.jetstream import ensure_streams
from tests.support.backends import Backends

pytestmark = pytest.mark.integration

SMALL, LARGE = 10_000, 100_000
CHATS = 50
TEXT = "x" * 1_000  # ~1.3 KB an event: the extra 90,000 events are ~120 MB of JSON
IN_FLIGHT = 500
# Measured on the shared 2-core machine: the two peaks differ by about 1 MB (docs/audit.md).
# Held in memory, the extra events alone would add more than 100 MB.
MAX_GROWTH_KB = 20_000
# Runs the console script and prints its peak RSS (KB) as the last line of stderr: VmHWM, the
# peak of this program only (ru_maxrss would keep the forked test process's peak across exec).
MEASURED = (
    "import re, runpy, sys\n"
    "sys.argv = ['cortex-audit', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('cortex_audit', run_name='__main__')\n"
    "finally:\n"
    "    status = open('/proc/self/status').read()\n"
    "    print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
)


@dataclass(frozen=True)
class Store:
    js: JetStreamContext
    topology: Topology
    env: dict[str, str]


@pytest.fixture
async def store(backends: Backends) -> AsyncIterator[Store]:
    client = await nats.connect(backends.nats_url)
    topology = Topology(prefix=f"t{uuid.uuid4().hex[:10]}")
    js = client.jetstream()
    await ensure_streams(js, topology)
    env = {
        **os.environ,
        "CORTEX_NATS_URL": backends.nats_url,
        "CORTEX_NATS_PREFIX": topology.prefix,
    }
    try:
        yield Store(js, topology, env)
    finally:
        for stream in topology.stream_configs():
            assert stream.name is not None
            await js.delete_stream(stream.name)
        await js.delete_key_value(topology.chain_heads_bucket)
        await client.close()


async def write_messages(store: Store, user_id: str, count: int) -> None:
    """`count` messages over the user's chats, published straight (no chain: only the export's
    memory is measured here)."""
    chats = [str(uuid.uuid4()) for _ in range(CHATS)]

    async def one(number: int) -> None:
        chat = chats[number % CHATS]
        event = MessageAdded(
            aggregate_id=chat,
            actor=Actor(user_id=user_id),
            previous_seq=0,
            role="user",
            content=TEXT,
            model_name="m",
        )
        subject = store.topology.chat_subject(user_id, chat)
        await store.js.publish(subject, event.to_bytes(), stream=store.topology.chat_stream)

    for start in range(0, count, IN_FLIGHT):
        await asyncio.gather(*(one(n) for n in range(start, min(start + IN_FLIGHT, count))))


def export_peak_kb(store: Store, username: str) -> tuple[int, int]:
    """(lines exported, peak RSS in KB) of `cortex-audit export --user`."""
    command = [sys.executable, "-c", MEASURED, "export", "--user", username]
    done = subprocess.run(command, env=store.env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = done.stdout.count(b"\n")
    return lines, int(done.stderr.decode().strip().splitlines()[-1])


async def test_a_user_with_100000_events_exports_in_bounded_memory(store: Store) -> None:
    user_id, username = str(uuid.uuid4()), "heavy-user"
    created = AuditRecorded(
        action="user.created", aggregate_id=user_id, details={"username": username}
    )
    await store.js.publish(store.topology.audit_subject("user.created"), created.to_bytes())
    await write_messages(store, user_id, SMALL)
    small_lines, small_kb = await asyncio.to_thread(export_peak_kb, store, username)
    await write_messages(store, user_id, LARGE - SMALL)
    large_lines, large_kb = await asyncio.to_thread(export_peak_kb, store, username)

    print(f"export peak RSS: {SMALL} events {small_kb} KB, {LARGE} events {large_kb} KB")
    assert (small_lines, large_lines) == (SMALL + 1, LARGE + 1)
    assert large_kb - small_kb < MAX_GROWTH_KB, (small_kb, large_kb)
