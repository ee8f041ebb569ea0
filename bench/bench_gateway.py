"""Streaming through the gateway vs straight from the model server, at 10, 50 and 200 concurrent
streams, in one run on the same machine.

Processes: embedded NATS and PostgreSQL, the simulator (a vLLM-like model: TTFT 80 ms, one token
every 15 ms, 120 tokens, so ~1.9 s per answer and ~66 tokens/s per stream), and the gateway with
the health and usage services, as deployed. The client authenticates with an API key.

Each level runs `concurrency` workers that each send ROUNDS streamed requests in a row, starting
at spread-out moments (the same seeded schedule for both paths). The client is a lean raw-socket
HTTP/1.1 reader, so that the measuring costs little CPU on the shared 2-core machine.

Reported per level: TTFT p50/p99 (request sent -> first content token received) for both paths and
the gateway's overhead (difference of the percentiles), token throughput (completion tokens of
all streams / wall time) and its ratio gateway/direct, and the gateway's memory per open stream
(peak RSS during the level minus RSS before it, divided by the concurrency), and its CPU time per
relayed chunk. Then 200 streams once more with the decode pace of a busy real server (ITL 40 ms).
"""

import asyncio
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.report import write_section
from cortex_devstack.embedded import EmbeddedNats, EmbeddedPostgres
from cortex_devstack.ports import free_port

NAME = "gateway"
COMMAND = "make bench  (or: .venv/bin/python -m bench gateway)"
LEVELS = (10, 50, 200)
ROUNDS = 3
MODEL = "bench-vllm"
MODEL_SPEC = {
    "name": MODEL,
    "personality": "vllm",
    "max_context": 8192,
    "ttft_ms": 80,
    "itl_ms": 15,
    "output_tokens": 120,
}
STREAM_SEC = 0.08 + 0.015 * 119
# A second look at 200 streams with the decode rate of a busy real server (~25 tokens/s/stream).
BUSY_SERVER_ITL_MS = 40
TARGET_TTFT_OVERHEAD_MS = 2.0
TARGET_THROUGHPUT_RATIO = 0.95
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
    cpu_us_per_chunk: float = 0.0  # the gateway's CPU time per relayed chunk

    def ttft_ms(self, q: float) -> float:
        values = sorted(s.ttft for s in self.streams)
        return 1000 * statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]

    @property
    def tokens_per_s(self) -> float:
        return sum(s.tokens for s in self.streams) / self.wall


# --- the processes -----------------------------------------------------------------------------
def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass
class Services:
    simulator_url: str
    gateway_url: str
    gateway_pid: int
    admin_password: str


@contextmanager
def services(work: Path) -> Iterator[Services]:
    with ExitStack() as stack:
        nats = EmbeddedNats(work / "nats", free_port())
        nats.start(log_file=work / "nats.log")
        stack.callback(nats.stop)
        postgres = EmbeddedPostgres(work / "postgres", free_port())
        postgres.start(log_file=work / "postgres.log")
        stack.callback(postgres.stop)
        postgres.create_database("bench")
        ports = {name: free_port() for name in ("simulator", "gateway", "health", "usage")}
        simulator_url = f"http://127.0.0.1:{ports['simulator']}"
        models_file = work / "models.yaml"
        models_file.write_text(
            json.dumps(
                {
                    "upstreams": [
                        {
                            "served_model_name": MODEL,
                            "base_url": f"{simulator_url}/m/{MODEL}",
                            "engine_type": "vllm",
                        }
                    ]
                }
            )
        )
        password = secrets.token_urlsafe(16) + "A1!"
        env = {
            **os.environ,
            "NATS_URL": nats.url,
            "DATABASE_URL": postgres.url("bench"),
            "CORTEX_NATS_PREFIX": "bench",
            "CORTEX_MODELS_FILE": str(models_file),
            "CORTEX_ADMIN_PASSWORD": password,
            "SIMULATOR_MODELS": json.dumps([MODEL_SPEC]),
            "HEALTH_POLL_SEC": "2",
            "HEALTH_CHECK_TTL_SEC": "10",
            "HEALTH_PROBE_TIMEOUT_SEC": "1",
            "LOG_LEVEL": "WARNING",
            "SIMULATOR_LOG_LEVEL": "warning",
            "CORTEX_GATEWAY_PORT": str(ports["gateway"]),
            "CORTEX_GATEWAY_HOST": "127.0.0.1",
            "SIMULATOR_PORT": str(ports["simulator"]),
            "HEALTH_PORT": str(ports["health"]),
            "HEALTH_HOST": "127.0.0.1",
            "USAGE_PORT": str(ports["usage"]),
            "USAGE_HOST": "127.0.0.1",
        }
        for service in ("gateway", "usage"):
            subprocess.run([bin_path(f"cortex-{service}"), "migrate"], env=env, check=True)
        processes = {}
        for service in ("simulator", "health", "usage", "gateway"):
            log = open(work / f"{service}.log", "ab")  # noqa: SIM115 - the child keeps it
            stack.callback(log.close)
            process = subprocess.Popen(
                [bin_path(f"cortex-{service}")], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            stack.callback(_stop, process)
            processes[service] = process
            path = "/healthz" if service == "simulator" else "/readyz"
            _wait_ready(f"http://127.0.0.1:{ports[service]}{path}", process, service)
        yield Services(
            simulator_url=simulator_url,
            gateway_url=f"http://127.0.0.1:{ports['gateway']}",
            gateway_pid=processes["gateway"].pid,
            admin_password=password,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], service: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{service} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{service} not ready")


async def api_key(services: Services) -> str:
    async with httpx.AsyncClient(base_url=services.gateway_url, timeout=30) as admin:
        login = await admin.post(
            "/auth/login", json={"username": "admin", "password": services.admin_password}
        )
        login.raise_for_status()
        admin.headers["X-CSRF-Token"] = admin.cookies["cortex_csrf"]
        password = secrets.token_urlsafe(16) + "A1!"
        user = await admin.post(
            "/admin/users", json={"username": "bench-user", "password": password}
        )
        user.raise_for_status()
        key = await admin.post("/admin/keys", json={"user_id": user.json()["id"], "name": "bench"})
        key.raise_for_status()
        return str(key.json()["key"])


# --- the client --------------------------------------------------------------------------------
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


async def run_level(url: str, key: str | None, concurrency: int, seed: int) -> LevelResult:
    host, port, payload = request_bytes(url, key)
    schedule = random.Random(seed)
    offsets = [schedule.uniform(0, STREAM_SEC) for _ in range(concurrency)]
    result = LevelResult()

    async def worker(offset: float) -> None:
        await asyncio.sleep(offset)
        for _ in range(ROUNDS):
            result.streams.append(await one_stream(host, port, payload))

    began = time.perf_counter()
    await asyncio.gather(*(worker(offset) for offset in offsets))
    result.wall = time.perf_counter() - began
    return result


def cpu_sec(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def measure_gateway(services: Services, key: str, concurrency: int, seed: int) -> LevelResult:
    before = rss_kib(services.gateway_pid)
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(services.gateway_pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    cpu_before = cpu_sec(services.gateway_pid)
    try:
        result = await run_level(
            services.gateway_url + "/v1/chat/completions", key, concurrency, seed
        )
    finally:
        done.set()
        await sampler
    chunks = sum(s.tokens + 2 for s in result.streams)  # + role and finish chunks
    result.cpu_us_per_chunk = (cpu_sec(services.gateway_pid) - cpu_before) / chunks * 1e6
    result.rss_delta_kib = (peak - before) / concurrency
    return result


Comparison = tuple[int, LevelResult, LevelResult]


async def benchmark(services: Services) -> tuple[list[Comparison], Comparison]:
    key = await api_key(services)
    direct_url = f"{services.simulator_url}/m/{MODEL}/v1/chat/completions"
    # Warm-up: connections, caches and code paths of both routes.
    await run_level(direct_url, None, 10, seed=0)
    await run_level(services.gateway_url + "/v1/chat/completions", key, 10, seed=0)
    results = []
    for concurrency in LEVELS:
        results.append(await compare(services, key, direct_url, concurrency))
    async with httpx.AsyncClient(base_url=services.simulator_url) as control:
        await control.post(f"/_control/{MODEL}", json={"itl_ms": BUSY_SERVER_ITL_MS})
        busy = await compare(services, key, direct_url, LEVELS[-1])
        await control.post(f"/_control/{MODEL}/reset")
    return results, busy


async def compare(
    services: Services, key: str, direct_url: str, concurrency: int
) -> tuple[int, LevelResult, LevelResult]:
    direct = await run_level(direct_url, None, concurrency, seed=concurrency)
    through = await measure_gateway(services, key, concurrency, seed=concurrency)
    print(
        f"  {concurrency:>3} streams: TTFT p50 direct {direct.ttft_ms(0.5):.1f} ms, gateway "
        f"{through.ttft_ms(0.5):.1f} ms; throughput ratio "
        f"{through.tokens_per_s / direct.tokens_per_s:.3f}",
        flush=True,
    )
    return concurrency, direct, through


def table(results: list[Comparison]) -> list[str]:
    rows = [
        "| streams | TTFT p50 direct / gateway (overhead) | TTFT p99 direct / gateway "
        "(overhead) | tokens/s direct | tokens/s gateway | ratio | gateway memory per stream "
        "| gateway CPU per chunk |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for concurrency, direct, through in results:
        p50d, p50g = direct.ttft_ms(0.5), through.ttft_ms(0.5)
        p99d, p99g = direct.ttft_ms(0.99), through.ttft_ms(0.99)
        rows.append(
            f"| {concurrency} | {p50d:.1f} / {p50g:.1f} ms (**{p50g - p50d:+.1f} ms**) "
            f"| {p99d:.1f} / {p99g:.1f} ms ({p99g - p99d:+.1f} ms) "
            f"| {direct.tokens_per_s:.0f} | {through.tokens_per_s:.0f} "
            f"| **{through.tokens_per_s / direct.tokens_per_s:.3f}** "
            f"| {through.rss_delta_kib:.0f} KiB | {through.cpu_us_per_chunk:.0f} µs |"
        )
    return rows


def report(results: list[Comparison], busy: Comparison, load: str) -> str:
    _, direct, through = results[-1]
    overhead = through.ttft_ms(0.5) - direct.ttft_ms(0.5)
    ratio = through.tokens_per_s / direct.tokens_per_s
    verdict = (
        f"Targets at {LEVELS[-1]} streams: TTFT overhead p50 ≤ {TARGET_TTFT_OVERHEAD_MS:g} ms "
        f"({'met' if overhead <= TARGET_TTFT_OVERHEAD_MS else 'missed'}: {overhead:+.1f} ms), "
        f"throughput ≥ {TARGET_THROUGHPUT_RATIO:g}× direct "
        f"({'met' if ratio >= TARGET_THROUGHPUT_RATIO else 'missed'}: {ratio:.3f}×)."
    )
    setup = (
        f"Simulated vLLM model: TTFT {MODEL_SPEC['ttft_ms']} ms, ITL {MODEL_SPEC['itl_ms']} ms, "
        f"{MODEL_SPEC['output_tokens']} tokens per answer (one token per chunk); {ROUNDS} streams "
        "per worker, usage requested by the client in both paths; API key auth through the "
        "gateway; health and usage services running. Overheads are differences of percentiles. "
        f"Machine load average (1/5/15 min) when the run began: {load} on "
        f"{os.cpu_count()} CPUs (other work on the machine competes with both paths)."
    )
    busy_note = (
        f"The same {busy[0]} streams against a model decoding at the pace of a busy real server "
        f"(ITL {BUSY_SERVER_ITL_MS} ms, ~{1000 // BUSY_SERVER_ITL_MS} tokens/s per stream):"
    )
    findings = (
        "Findings (profiled with py-spy): relaying a chunk cost ~250 µs of gateway CPU with "
        "httpx as the upstream client (h11 and anyio timeouts per read); aiohttp's C parser, an "
        "ASGI loop with one `send` per upstream read, reading plain content deltas without a "
        "full JSON parse, and a 5 s API-key cache (revocations invalidate it through NATS) bring "
        "it to ~45-80 µs at high concurrency (more events per read), ~15 µs of it the gateway's "
        "own parsing and measuring. At 200 streams × 66 tokens/s the simulator, the client and "
        "the gateway together need more CPU than this shared 2-core machine has free, so the "
        "direct path itself stays under its ideal (~12,800 tokens/s) and every extra process "
        "costs throughput; TTFT overhead then is mostly time spent waiting for a CPU. Figures "
        "move by tens of percent between runs with the machine's load."
    )
    return "\n".join(
        [
            "### Gateway streaming overhead",
            "",
            setup,
            "",
            *table(results),
            "",
            verdict,
            "",
            busy_note,
            "",
            *table([busy]),
            "",
            findings,
        ]
    )


def main() -> None:
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, services(Path(tmp)) as found:
        results, busy = asyncio.run(benchmark(found))
    write_section(NAME, COMMAND, report(results, busy, load))


if __name__ == "__main__":
    main()
