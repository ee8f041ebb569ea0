"""Which sessions replica owns which partition, as the lease bucket says
(`cortex_runtime.partitions`)."""

import asyncio
import socket
import time
from collections import Counter

from nats.js.errors import KeyNotFoundError

from cortex_runtime.partitions import LEASE_SEC
from tests.support.chat import nats_of, topology_of
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack


def replica_id(process: ServiceProcess) -> str:
    """The id the sessions service gives itself in the lease bucket (host and pid)."""
    assert process.process is not None
    return f"{socket.gethostname()}-{process.process.pid}"


async def lease_owners(stack: Stack) -> dict[str, str]:
    """Partition consumer -> the replica holding its lease (renewed within LEASE_SEC)."""
    topology = topology_of(stack)
    prefix = f"{topology.sessions_consumer}.lease."
    owners: dict[str, str] = {}
    async with nats_of(stack) as client:
        kv = await client.jetstream().key_value(topology.leases_bucket)
        try:
            keys = await kv.keys()
        except Exception:  # no keys yet
            return owners
        now = time.time()
        for key in keys:
            if not key.startswith(prefix):
                continue
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:  # handed over between the listing and this read
                continue
            written = entry.created.timestamp() if entry.created else now
            if entry.value and now - written < LEASE_SEC + 1:
                owners[key[len(prefix) :]] = entry.value.decode()
    return owners


async def wait_for_shares(
    stack: Stack, replicas: list[ServiceProcess], within_sec: float = 30.0
) -> Counter[str]:
    """Until every partition is owned by one of `replicas`, each holding its share (±1)."""
    partitions = topology_of(stack).chat_partitions
    ids = {replica_id(r) for r in replicas}
    deadline = time.monotonic() + within_sec
    while True:
        owners = await lease_owners(stack)
        shares = Counter(owners.values())
        counts = [shares.get(i, 0) for i in ids]
        if len(owners) == partitions and set(shares) <= ids and max(counts) - min(counts) <= 1:
            return shares
        assert time.monotonic() < deadline, f"partitions not shared out: {dict(shares)}"
        await asyncio.sleep(0.1)
