"""The gateway benchmark's client and measurements: a lean raw-socket HTTP/1.1 reader (so that
measuring costs little CPU on the shared 2-core machine), levels of concurrent streams on a
seeded schedule, and the gateway processes' CPU time and memory read from /proc."""

import asyncio
import json
import os
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.gateway_stack import MODEL, Gateway

ROUNDS = 3  # streamed requests each client worker sends in a row
STREAM_SEC = 0.08 + 0.015 * 119  # one answer of MODEL_SPEC: TTFT, then 119 token intervals
CONTENT = re.compile(rb'"content":"[^"]')
COMPLETION_TOKENS = re.compile(rb'"completion_tokens":(\d+)')


@dataclass
class Stream:
    ttft: float
    tokens: int
    started: float
    ended: float


@dataclass
class LevelResult:
    streams: list[Stream] = field(default_factory=list)
    wall: float = 0.0
    rss_delta_kib: float = 0.0
    gateway_cpu_sec: float = 0.0
    gateway_kernel_sec: float = 0.0  # of gateway_cpu_sec, in the kernel (system time)
    chunks: int = 0  # relayed by the gateway

    @classmethod
    def pooled(cls, runs: list["LevelResult"]) -> "LevelResult":
        return cls(
            streams=[stream for run in runs for stream in run.streams],
            wall=sum(run.wall for run in runs),
            rss_delta_kib=max(run.rss_delta_kib for run in runs),
            gateway_cpu_sec=sum(run.gateway_cpu_sec for run in runs),
            gateway_kernel_sec=sum(run.gateway_kernel_sec for run in runs),
            chunks=sum(run.chunks for run in runs),
        )

    @property
    def cpu_us_per_chunk(self) -> float:
        return self.gateway_cpu_sec / self.chunks * 1e6 if self.chunks else 0.0

    @property
    def kernel_us_per_chunk(self) -> float:
        return self.gateway_kernel_sec / self.chunks * 1e6 if self.chunks else 0.0

    def ttft_ms(self, q: float) -> float:
        values = sorted(s.ttft for s in self.streams)
        return 1000 * statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]

    @property
    def tokens_per_s(self) -> float:
        return sum(s.tokens for s in self.streams) / self.wall


def request_bytes(url: str, key: str | None) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Tell me about caching"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\n{auth}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port, head.encode() + body


async def one_stream(host: str, port: int, payload: bytes) -> Stream:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(payload)
    ttft = None
    tail = b""
    seen = bytearray()
    while True:
        data = await reader.read(65536)
        if not data:
            break
        if ttft is None:
            if CONTENT.search(tail + data):
                ttft = time.perf_counter() - started
            tail = data[-16:]
        seen += data[-512:] if len(data) > 512 else data
        if len(seen) > 4096:
            del seen[:-2048]
    ended = time.perf_counter()
    writer.close()
    found = COMPLETION_TOKENS.findall(bytes(seen))
    if ttft is None or not found:
        raise RuntimeError(f"incomplete stream: {bytes(seen[-300:])!r}")
    return Stream(ttft=ttft, tokens=int(found[-1]), started=started, ended=ended)


async def run_level(
    url: str, key: str | None, concurrency: int, seed: int, rounds: int = ROUNDS
) -> LevelResult:
    host, port, payload = request_bytes(url, key)
    schedule = random.Random(seed)
    offsets = [schedule.uniform(0, STREAM_SEC) for _ in range(concurrency)]
    result = LevelResult()

    async def worker(offset: float) -> None:
        await asyncio.sleep(offset)
        for _ in range(rounds):
            result.streams.append(await one_stream(host, port, payload))

    began = time.perf_counter()
    await asyncio.gather(*(worker(offset) for offset in offsets))
    result.wall = time.perf_counter() - began
    return result


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a gateway's uvicorn workers are its children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = [pid]
    for member in found:  # grows while it is walked: breadth-first
        found.extend(child for child, parent in parents.items() if parent == member)
    return found


def cpu_sec(pid: int) -> float:
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system (kernel) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def measure_gateway(
    gateway: Gateway, key: str, concurrency: int, seed: int, rounds: int = ROUNDS
) -> LevelResult:
    members = process_tree(gateway.pid)
    before = sum(rss_kib(member) for member in members)
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sum(rss_kib(member) for member in members))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    cpu_before = sum(cpu_sec(member) for member in members)
    kernel_before = sum(cpu_split(member)[1] for member in members)
    try:
        result = await run_level(
            gateway.url + "/v1/chat/completions", key, concurrency, seed, rounds
        )
    finally:
        done.set()
        await sampler
    result.chunks = sum(s.tokens + 2 for s in result.streams)  # + role and finish chunks
    result.gateway_cpu_sec = sum(cpu_sec(member) for member in members) - cpu_before
    result.gateway_kernel_sec = sum(cpu_split(member)[1] for member in members) - kernel_before
    result.rss_delta_kib = (peak - before) / concurrency
    return result
