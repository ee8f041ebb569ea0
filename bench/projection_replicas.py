"""The live sessions projection working off one backlog with 1, 2 and 3 replicas: events/s, the
CPU seconds each replica used per 1,000 events, and how the partitions were split."""

import asyncio
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError

from cortex_contracts.topology import Topology
from cortex_sessions.partitions import projected_floor
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Drain:
    replicas: int
    events: int
    seconds: float
    cpu_sec: list[float]  # per replica, while draining
    split: list[int]  # partitions per replica at the end

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def row(self) -> str:
        per_thousand = " / ".join(f"{c / self.events * 1000:.3f}" for c in self.cpu_sec)
        total = sum(self.cpu_sec) / self.events * 1000
        return (
            f"| {self.replicas} | {self.events:,} | {self.rate:,.0f} | {per_thousand} | "
            f"{total:.3f} | {' / '.join(map(str, self.split))} |"
        )


def cpu_seconds(process: ServiceProcess) -> float:
    assert process.process is not None
    stat = Path(f"/proc/{process.process.pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def wait_projected(js: JetStreamContext, topology: Topology, seq: int) -> None:
    while True:
        if await projected_floor(js, topology) >= seq:
            return
        # Not faster: a poll asks every partition's consumer, and at 100 polls/s that was a
        # noticeable share of the server's CPU in the drain being timed.
        await asyncio.sleep(0.1)


async def partition_split(js: JetStreamContext, topology: Topology) -> Counter[str]:
    kv = await js.key_value(topology.leases_bucket)
    owners: Counter[str] = Counter()
    prefix = f"{topology.sessions_consumer}.lease."
    try:
        keys = await kv.keys()
    except NoKeysError:  # nobody holds a lease yet
        return owners
    for key in keys:
        if key.startswith(prefix):
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:  # handed over meanwhile
                continue
            owners[(entry.value or b"").decode()] += 1
    return owners


async def wait_split(js: JetStreamContext, topology: Topology, replicas: int) -> Counter[str]:
    """Until every partition has an owner and shares are within one of each other."""
    deadline = time.monotonic() + 120
    while True:
        owners = await partition_split(js, topology)
        counts = list(owners.values())
        settled = (
            sum(counts) == topology.chat_partitions
            and len(counts) == min(replicas, topology.chat_partitions)
            and max(counts) - min(counts) <= 1
        )
        if settled or time.monotonic() > deadline:
            return owners
        await asyncio.sleep(0.1)


async def backlog_drain(
    stack: Stack,
    js: JetStreamContext,
    topology: Topology,
    publish: "PublishChats",
    events: int,
    replicas: int,
) -> Drain:
    """The sessions service is stopped, `events` published (chats of 10 events), then
    `replicas` processes started together; timed from when the partitions are shared out,
    counting the events still unacknowledged then."""
    await asyncio.to_thread(stack.processes["sessions"].stop)
    last = await publish(js, topology, str(uuid.uuid4()), events // 10, 9)
    processes = [ServiceProcess("sessions", stack.env) for _ in range(replicas)]
    for process in processes:
        process.start(wait=False)
    stack.extras.extend(processes)  # stopped with the stack whatever happens
    # The replicas take partitions as they come up: count from when each holds its share
    # (busy projecting, a replica may answer /readyz late on a loaded machine: not waited for).
    await wait_split(js, topology, replicas)
    cpu_before = [cpu_seconds(p) for p in processes]
    started = time.perf_counter()
    left = await remaining(js, topology)  # what is still to do once the shares are settled
    await wait_projected(js, topology, last)
    seconds = time.perf_counter() - started
    cpu = [cpu_seconds(p) - before for p, before in zip(processes, cpu_before, strict=True)]
    split = sorted((await partition_split(js, topology)).values(), reverse=True)
    stack.processes["sessions"] = processes[0]
    stack.extras.remove(processes[0])
    for extra in processes[1:]:
        await asyncio.to_thread(extra.stop)
    return Drain(replicas, max(1, left), seconds, cpu, split)


async def remaining(js: JetStreamContext, topology: Topology) -> int:
    """Events not yet acknowledged, over every partition's consumer."""
    infos = await asyncio.gather(
        *(js.consumer_info(topology.chat_stream, n) for n in topology.sessions_partition_consumers)
    )
    return sum(int(i.num_pending or 0) + int(i.num_ack_pending or 0) for i in infos)


class PublishChats:  # the signature of bench_sessions.publish_chats
    async def __call__(
        self, js: JetStreamContext, topology: Topology, user_id: str, sessions: int, each: int
    ) -> int: ...
