"""Soak: 200 concurrent streaming completions plus chat writes against the whole stack for
SOAK_SEC (60 in `make bench`, 600 in `make soak`); every answer must be a success, and each
service's memory (RSS, with its children) and open file descriptors, sampled every 10 s, must
stay flat: first / last / max and the least-squares slope per minute are reported."""

import asyncio
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.report import write_section
from tests.support.backends import fresh_database, start_backends
from tests.support.chat import MODEL
from tests.support.clients import login
from tests.support.completions import new_api_key, user_id_of
from tests.support.stack import Stack, base_env, running_stack

STREAMS = int(os.environ.get("SOAK_STREAMS", 200))
WRITERS = 20  # users posting chat messages meanwhile
SAMPLE_SEC = 10.0
SERVICES = ("gateway", "sessions", "usage", "health", "simulator")


@dataclass
class Tally:
    streams: int = 0
    writes: int = 0
    errors: list[str] = field(default_factory=list)
    samples: dict[str, list[tuple[float, float, int]]] = field(default_factory=dict)


def usage_of(pid: int) -> tuple[float, int]:
    """RSS in MiB and open file descriptors of a process and its children."""
    root = psutil.Process(pid)
    rss, fds = 0, 0
    for process in [root, *root.children(recursive=True)]:
        try:
            rss += process.memory_info().rss
            fds += process.num_fds()
        except psutil.NoSuchProcess:
            continue
    return rss / 2**20, fds


async def sample(stack: Stack, tally: Tally, until: float, start: float) -> None:
    while True:
        for name in SERVICES:
            process = stack.processes[name].process
            assert process is not None
            rss, fds = usage_of(process.pid)
            tally.samples.setdefault(name, []).append((time.monotonic() - start, rss, fds))
        if time.monotonic() >= until:
            return
        await asyncio.sleep(min(SAMPLE_SEC, max(until - time.monotonic(), 0.1)))


async def stream_forever(client: httpx.AsyncClient, tally: Tally, until: float) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "soak"}], "stream": True}
    while time.monotonic() < until:
        where = "before the answer's head"  # a connection closed under a request sent on it
        try:
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                where, done = "in the stream", False
                async for line in response.aiter_lines():
                    done = done or line.strip() == "data: [DONE]"
                if response.status_code != 200 or not done:
                    tally.errors.append(f"completion {response.status_code} done={done}")
        except httpx.HTTPError as error:
            tally.errors.append(f"completion {type(error).__name__} {where}")
        tally.streams += 1


async def write_forever(client: httpx.AsyncClient, tally: Tally, until: float) -> None:
    created = await client.post("/v1/chat/sessions", json={"model_name": MODEL})
    chat = created.json()["id"]
    while time.monotonic() < until:
        try:
            added = await client.post(
                f"/v1/chat/sessions/{chat}/messages",
                json={"role": "user", "content": f"soak {uuid.uuid4().hex}"},
            )
            if added.status_code != 201:
                tally.errors.append(f"message {added.status_code}")
        except httpx.HTTPError as error:
            tally.errors.append(f"message {type(error).__name__}")
        tally.writes += 1
        await asyncio.sleep(0.2)


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


async def soak(stack: Stack, seconds: float) -> tuple[Tally, float]:
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    username, password = stack.create_user()
    streamer = await login(stack.gateway_url, username, password)
    key = await new_api_key(admin, await user_id_of(streamer))
    api = httpx.AsyncClient(  # one pool with room for every stream at once
        base_url=stack.gateway_url,
        headers={"Authorization": f"Bearer {key}"},
        limits=httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=STREAMS),
        timeout=120,
    )
    writers = []
    for _ in range(WRITERS):
        name, secret = stack.create_user()
        writers.append(await login(stack.gateway_url, name, secret))
    tally = Tally()
    start = time.monotonic()
    until = start + seconds
    await asyncio.gather(
        sample(stack, tally, until, start),
        *(stream_forever(api, tally, until) for _ in range(STREAMS)),
        *(write_forever(client, tally, until) for client in writers),
    )
    for client in [admin, streamer, api, *writers]:
        await client.aclose()
    return tally, time.monotonic() - start


def table(tally: Tally) -> str:
    lines = [
        "| service | RSS MiB first / last / max | slope MiB/min | fds first / last / max"
        " | slope fds/min |",  # slopes under load: from the second sample (the first is idle)
        "|---|---|---|---|---|",
    ]
    for name, samples in tally.samples.items():
        rss = [(t, r) for t, r, _ in samples]
        fds = [(t, float(f)) for t, _, f in samples]
        lines.append(
            f"| {name} | {rss[0][1]:.0f} / {rss[-1][1]:.0f} / {max(r for _, r in rss):.0f}"
            f" | {slope_per_min(rss[1:]):+.2f} | {fds[0][1]:.0f} / {fds[-1][1]:.0f} /"
            f" {max(f for _, f in fds):.0f} | {slope_per_min(fds[1:]):+.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    seconds = float(os.environ.get("SOAK_SEC", 60))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with start_backends(work) as backends, fresh_database(backends.postgres_url) as database:
            env = base_env(backends.nats_url, database)
            env["CORTEX_LOG_LEVEL"] = "WARNING"
            with running_stack(env, work) as stack:
                tally, took = asyncio.run(soak(stack, seconds))
    errors = ", ".join(f"{e}: {tally.errors.count(e)}" for e in sorted(set(tally.errors)))
    body = (
        f"{STREAMS} concurrent streaming completions (API key, simulated vLLM model: 40 tokens)"
        f" and {WRITERS} users posting a chat message every 0.2 s, for {took:.0f} s against"
        f" the whole stack (one gateway). Completions: {tally.streams}; chat writes:"
        f" {tally.writes}; errors: {len(tally.errors)}{f' ({errors})' if errors else ''}.\n\n"
        f"Memory (RSS, with children) and open file descriptors, sampled every {SAMPLE_SEC:g} s"
        f" ({len(next(iter(tally.samples.values())))} samples; the first before the load, the"
        " slopes from the second on):\n\n"
        f"{table(tally)}\n\n"
        f"Load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}"
        " (a 2-core machine shared with other work: throughput figures are noisy; the flatness"
        " of memory and descriptors is what this measures).\n"
    )
    print(body)
    name = "soak" if seconds <= 120 else f"soak-{seconds:.0f}s"
    write_section(name, f"SOAK_SEC={seconds:.0f} python -m bench soak", body)
    if tally.errors:
        raise SystemExit(f"soak: {len(tally.errors)} errors")
