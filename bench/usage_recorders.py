"""The usage benchmark's recorders: `cortex-usage` processes started on demand, the rows they
stored, and a backlog drained by 1, 2 or 3 of them sharing the one durable consumer."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
from nats.js import JetStreamContext

from bench.usage_population import Population
from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.topology import Topology
from cortex_devstack.ports import free_port
from cortex_runtime.jetstream import publish_event

PUBLISH_CONCURRENCY = 500
INGEST_EVENTS = 50_000


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class UsageService:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start_process(self) -> None:
        env = {
            **os.environ,
            **self.env,
            "CORTEX_USAGE_PORT": str(self.port),
            "CORTEX_USAGE_HOST": "127.0.0.1",
        }
        script = str(Path(sys.executable).parent / "cortex-usage")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([script], env=env, stdout=log, stderr=log)

    def start(self) -> None:
        self.start_process()
        self.wait_ready()

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"cortex-usage not ready: see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def stored(database_url: str) -> int:
    with psycopg.connect(libpq(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM usage_records").fetchone()
    return int(row[0]) if row else 0


async def publish(js: JetStreamContext, topology: Topology, events: list) -> float:
    """Publishes every event (each acknowledged by the stream); returns the seconds it took."""
    limit = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(event: CompletionRecorded) -> None:
        async with limit:
            await publish_event(js, topology.usage_subject(event.model), event)

    started = time.perf_counter()
    await asyncio.gather(*(one(event) for event in events))
    return time.perf_counter() - started


async def rows_beyond(database_url: str, count: int) -> int:
    """Polls until more than `count` rows are stored; how many then."""
    while True:
        now_stored = await asyncio.to_thread(stored, database_url)
        if now_stored > count:
            return now_stored
        await asyncio.sleep(0.02)


async def backlog_with_replicas(
    env: dict[str, str],
    work: Path,
    js: JetStreamContext,
    topology: Topology,
    population: Population,
    replicas: int,
    recorded: int,
) -> str:
    """A backlog drained by `replicas` recorders started together (the one durable consumer
    they share), timed from the first stored row to the last, with each one's CPU over that
    time per 1,000 events: whether replicas add throughput or, like the sessions projection
    before its partitions, wait for each other."""
    await publish(js, topology, [population.event() for _ in range(INGEST_EVENTS)])
    database_url = env["CORTEX_DATABASE_URL"]
    services = [UsageService(env, work / f"usage-replica-{n}.log") for n in range(replicas)]
    for service in services:
        service.start_process()
    try:
        early = await rows_beyond(database_url, recorded)
        first = time.perf_counter()
        cpu_before = [service.cpu_seconds() for service in services]
        target = recorded + INGEST_EVENTS
        await rows_beyond(database_url, target - 1)
        seconds = time.perf_counter() - first
        cpu = [s.cpu_seconds() - c for s, c in zip(services, cpu_before, strict=True)]
    finally:
        for service in services:
            service.stop()
    counted = target - early
    per_thousand = " / ".join(f"{c / counted * 1000:.3f}" for c in cpu)
    return (
        f"| backlog of {INGEST_EVENTS:,} events, {replicas} replica(s) started together | "
        f"{counted / seconds:,.0f} events/s (first to last stored row); CPU s per 1,000 "
        f"events, each replica {per_thousand} (all: {sum(cpu) / counted * 1000:.3f}) |"
    )
