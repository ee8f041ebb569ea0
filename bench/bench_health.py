"""Health rounds with many upstreams, some hung: healthy results must not wait for the hung ones.

A real NATS (embedded) holds the health bucket; the simulator runs as its own process. Each round
checks every upstream concurrently (as a poll or refresh-health does) and records when each result
was published, counted from the start of the round.
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import nats

from cortex_contracts.envelope import utcnow
from cortex_contracts.events.models import Upstream
from cortex_contracts.topology import Topology, model_key
from cortex_devstack.embedded import EmbeddedNats
from cortex_devstack.ports import free_port, wait_for_port
from cortex_health.poller import HealthPoller
from cortex_health.settings import Settings
from cortex_runtime.kv import KvEntry, ensure_bucket

NAME = "health"
COMMAND = "python -m bench health"
UPSTREAMS = 40
HUNG = 4
DOWN = 4
ROUNDS = 5
PROBE_TIMEOUT_SEC = 1.0


def _models() -> list[dict[str, object]]:
    return [
        {"name": f"b-{i:02d}", "personality": "vllm" if i % 2 else "llamacpp"}
        for i in range(UPSTREAMS)
    ]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _role(index: int, faults: bool) -> str:
    if faults and index < HUNG:
        return "hung"
    if faults and index < HUNG + DOWN:
        return "down"
    return "healthy"


async def _timed_check(
    poller: HealthPoller, upstream: Upstream, role: str, checked_at: datetime, started: float
) -> tuple[str, float]:
    result = await poller.check(upstream, checked_at, PROBE_TIMEOUT_SEC)
    assert result.revision is not None, "every result is published"
    assert (result.health.status == "healthy") == (role == "healthy"), result.health
    return role, (time.perf_counter() - started) * 1000


async def _rounds(
    poller: HealthPoller, upstreams: list[Upstream], faults: bool
) -> dict[str, list[float]]:
    """Milliseconds from round start to each published result, by the upstream's role."""
    by_role: dict[str, list[float]] = {}
    walls: list[float] = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        checked_at = utcnow()
        checks = [
            _timed_check(poller, upstream, _role(index, faults), checked_at, started)
            for index, upstream in enumerate(upstreams)
        ]
        for role, elapsed in await asyncio.gather(*checks):
            by_role.setdefault(role, []).append(elapsed)
        walls.append((time.perf_counter() - started) * 1000)
    by_role["round"] = walls
    return by_role


async def _measure(simulator_url: str, nats_url: str) -> list[tuple[str, dict[str, list[float]]]]:
    topology = Topology(prefix="bench")
    settings = Settings.model_validate(
        {"CORTEX_HEALTH_POLL_SEC": 15, "CORTEX_HEALTH_CHECK_TTL_SEC": 20,
         "CORTEX_HEALTH_PROBE_TIMEOUT_SEC": PROBE_TIMEOUT_SEC, "CORTEX_NATS_PREFIX": "bench"}
    )  # fmt: skip
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    health_kv = await ensure_bucket(js, topology.health_bucket_config(settings.ttl_sec))
    registry_kv = await ensure_bucket(js, topology.registry_bucket_config())
    upstreams = [
        Upstream.model_validate(
            {"served_model_name": m["name"], "base_url": f"{simulator_url}/m/{m['name']}",
             "engine_type": m["personality"]}
        )
        for m in _models()
    ]  # fmt: skip
    async with httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64)
    ) as client:
        poller = HealthPoller(settings, client, health_kv, registry_kv)
        poller.registry.replace_all(
            [KvEntry(model_key(u.served_model_name), u.model_dump_json().encode(), 1)
             for u in upstreams]
        )  # fmt: skip
        await poller.stop()  # drop the checks the registration started: rounds are measured alone
        results = [("all healthy", await _rounds(poller, upstreams, faults=False))]
        async with httpx.AsyncClient(base_url=simulator_url) as control:
            for upstream in upstreams[:HUNG]:
                await control.post(f"/_control/{upstream.served_model_name}", json={"hang": True})
            for upstream in upstreams[HUNG : HUNG + DOWN]:
                await control.post(f"/_control/{upstream.served_model_name}", json={"down": True})
            results.append(
                (f"{HUNG} hung + {DOWN} down", await _rounds(poller, upstreams, faults=True))
            )
            for upstream in upstreams[: HUNG + DOWN]:
                await control.post(f"/_control/{upstream.served_model_name}/reset")
        await poller.stop()
    await nc.drain()
    return results


def _table(results: list[tuple[str, dict[str, list[float]]]]) -> str:
    lines = [
        "| scenario | results | count | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, by_role in results:
        for role in ("healthy", "down", "hung", "round"):
            values = by_role.get(role)
            if not values:
                continue
            label = "whole round" if role == "round" else f"{role} upstreams' results"
            lines.append(
                f"| {scenario} | {label} | {len(values)} | {statistics.median(values):.1f} | "
                f"{_percentile(values, 0.95):.1f} | {max(values):.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        embedded = EmbeddedNats(Path(folder) / "nats", free_port())
        embedded.start()
        port = free_port()
        simulator = subprocess.Popen(
            [str(Path(sys.executable).parent / "cortex-simulator")],
            env={**os.environ, "CORTEX_SIMULATOR_PORT": str(port),
                 "CORTEX_SIMULATOR_LOG_LEVEL": "warning",
                 "CORTEX_SIMULATOR_MODELS": json.dumps(_models())},
        )  # fmt: skip
        try:
            assert wait_for_port(port, timeout=30), "simulator did not start"
            results = asyncio.run(_measure(f"http://127.0.0.1:{port}", embedded.url))
        finally:
            simulator.terminate()
            simulator.wait(timeout=15)
            embedded.stop()
    body = (
        f"{UPSTREAMS} upstreams (half vLLM, half llama.cpp personalities) checked concurrently, "
        f"{ROUNDS} rounds per scenario, probe timeout {PROBE_TIMEOUT_SEC:g} s; times from the "
        "start of a round until each result was stored in the NATS health bucket. A hung "
        "upstream costs its own probe timeout and nothing else: compare the healthy upstreams' "
        "times in both scenarios.\n\n" + _table(results)
    )
    print(body)
    from bench.report import write_section

    write_section(NAME, COMMAND, body)


if __name__ == "__main__":
    main()
