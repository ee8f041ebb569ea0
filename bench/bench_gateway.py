"""Streaming through the gateway vs straight from the model server, at 10, 50 and 200 concurrent
streams, in one run on the same machine.

Processes: embedded NATS and PostgreSQL, the simulator (a vLLM-like model: TTFT 80 ms, one token
every 15 ms, 120 tokens, so ~1.9 s per answer and ~66 tokens/s per stream), the health and usage
services, and two gateways as deployed: one with a single process (CORTEX_GATEWAY_WORKERS=1) and
one with two worker processes (CORTEX_GATEWAY_WORKERS=2, both cores of this machine), measured in
turn against the same simulator. The client authenticates with an API key.

Each level runs `concurrency` workers that each send ROUNDS streamed requests in a row, starting
at spread-out moments (the same seeded schedule for every path). The paths take turns, REPEATS
times (direct, 1 worker, 2 workers, direct, ...), and each path's streams are pooled, so a drift
in the machine's load weighs on every path alike. The client is a lean raw-socket HTTP/1.1
reader, so that the measuring costs little CPU on the shared 2-core machine.

Reported per level: TTFT p50/p99 (request sent -> first content token received) for both paths and
the gateway's overhead (difference of the percentiles), token throughput (completion tokens of
all streams / wall time) and its ratio gateway/direct, and the gateway's memory per open stream
(peak RSS during the level minus RSS before it, divided by the concurrency), and its CPU time per
relayed chunk (both summed over the gateway's processes). Then 200 streams once more with the
decode pace of a busy real server (ITL 40 ms).
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
GATEWAY_WORKERS = (1, 2)  # CORTEX_GATEWAY_WORKERS of the two gateways compared
ROUNDS = 3
REPEATS = 3
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
    gateway_cpu_sec: float = 0.0
    chunks: int = 0  # relayed by the gateway

    @classmethod
    def pooled(cls, runs: list["LevelResult"]) -> "LevelResult":
        return cls(
            streams=[stream for run in runs for stream in run.streams],
            wall=sum(run.wall for run in runs),
            rss_delta_kib=max(run.rss_delta_kib for run in runs),
            gateway_cpu_sec=sum(run.gateway_cpu_sec for run in runs),
            chunks=sum(run.chunks for run in runs),
        )

    @property
    def cpu_us_per_chunk(self) -> float:
        return self.gateway_cpu_sec / self.chunks * 1e6 if self.chunks else 0.0

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
class Gateway:
    workers: int
    url: str
    pid: int  # the main process; with several workers, their parent


@dataclass
class Services:
    simulator_url: str
    gateways: list[Gateway]
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
        ports = {name: free_port() for name in ("simulator", "health", "usage")}
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
            "CORTEX_NATS_URL": nats.url,
            "CORTEX_DATABASE_URL": postgres.url("bench"),
            "CORTEX_NATS_PREFIX": "bench",
            "CORTEX_GATEWAY_MODELS_FILE": str(models_file),
            "CORTEX_GATEWAY_ADMIN_PASSWORD": password,
            "CORTEX_SIMULATOR_MODELS": json.dumps([MODEL_SPEC]),
            "CORTEX_HEALTH_POLL_SEC": "2",
            "CORTEX_HEALTH_CHECK_TTL_SEC": "10",
            "CORTEX_HEALTH_PROBE_TIMEOUT_SEC": "1",
            "CORTEX_LOG_LEVEL": "WARNING",
            "CORTEX_SIMULATOR_LOG_LEVEL": "warning",
            "CORTEX_GATEWAY_HOST": "127.0.0.1",
            "CORTEX_SIMULATOR_PORT": str(ports["simulator"]),
            "CORTEX_HEALTH_PORT": str(ports["health"]),
            "CORTEX_HEALTH_HOST": "127.0.0.1",
            "CORTEX_USAGE_PORT": str(ports["usage"]),
            "CORTEX_USAGE_HOST": "127.0.0.1",
        }
        for service in ("gateway", "usage"):
            subprocess.run([bin_path(f"cortex-{service}"), "migrate"], env=env, check=True)
        for service in ("simulator", "health", "usage"):
            process = _start(stack, work, service, env)
            path = "/healthz" if service == "simulator" else "/readyz"
            _wait_ready(f"http://127.0.0.1:{ports[service]}{path}", process, service)
        gateways = []
        for workers in GATEWAY_WORKERS:
            port = free_port()
            gateway_env = {
                **env,
                "CORTEX_GATEWAY_PORT": str(port),
                "CORTEX_GATEWAY_WORKERS": str(workers),
            }
            process = _start(stack, work, "gateway", gateway_env, f"gateway-{workers}w")
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url + "/readyz", process, f"gateway with {workers} workers")
            gateways.append(Gateway(workers=workers, url=url, pid=process.pid))
        yield Services(simulator_url=simulator_url, gateways=gateways, admin_password=password)


def _start(
    stack: ExitStack, work: Path, service: str, env: dict[str, str], label: str | None = None
) -> subprocess.Popen[bytes]:
    log = open(work / f"{label or service}.log", "ab")  # noqa: SIM115 - the child keeps it
    stack.callback(log.close)
    process = subprocess.Popen(
        [bin_path(f"cortex-{service}")], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    stack.callback(_stop, process)
    return process


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
    async with httpx.AsyncClient(base_url=services.gateways[0].url, timeout=30) as admin:
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
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def measure_gateway(gateway: Gateway, key: str, concurrency: int, seed: int) -> LevelResult:
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
    try:
        result = await run_level(gateway.url + "/v1/chat/completions", key, concurrency, seed)
    finally:
        done.set()
        await sampler
    result.chunks = sum(s.tokens + 2 for s in result.streams)  # + role and finish chunks
    result.gateway_cpu_sec = sum(cpu_sec(member) for member in members) - cpu_before
    result.rss_delta_kib = (peak - before) / concurrency
    return result


@dataclass
class Comparison:
    concurrency: int
    load: str  # load average (1 min) before/after the level
    direct: LevelResult
    through: dict[int, LevelResult]  # by gateway workers, pooled over the repeats
    repeat_overheads: dict[int, list[float]]  # TTFT p50 overhead (ms) of each repeat, by workers


async def benchmark(services: Services) -> tuple[list[Comparison], Comparison]:
    key = await api_key(services)
    direct_url = f"{services.simulator_url}/m/{MODEL}/v1/chat/completions"
    # Warm-up: connections, caches and code paths of every route (and of every worker).
    await run_level(direct_url, None, 10, seed=0)
    for gateway in services.gateways:
        await run_level(gateway.url + "/v1/chat/completions", key, 20, seed=0)
    results = []
    for concurrency in LEVELS:
        results.append(await compare(services, key, direct_url, concurrency))
    async with httpx.AsyncClient(base_url=services.simulator_url) as control:
        await control.post(f"/_control/{MODEL}", json={"itl_ms": BUSY_SERVER_ITL_MS})
        busy = await compare(services, key, direct_url, LEVELS[-1])
        await control.post(f"/_control/{MODEL}/reset")
    return results, busy


async def compare(services: Services, key: str, direct_url: str, concurrency: int) -> Comparison:
    load_before = os.getloadavg()[0]
    directs: list[LevelResult] = []
    throughs: dict[int, list[LevelResult]] = {g.workers: [] for g in services.gateways}
    overheads: dict[int, list[float]] = {g.workers: [] for g in services.gateways}
    for repeat in range(REPEATS):
        seed = concurrency * 100 + repeat
        direct = await run_level(direct_url, None, concurrency, seed=seed)
        directs.append(direct)
        for gateway in services.gateways:
            through = await measure_gateway(gateway, key, concurrency, seed=seed)
            throughs[gateway.workers].append(through)
            overheads[gateway.workers].append(through.ttft_ms(0.5) - direct.ttft_ms(0.5))
    load = f"{load_before:.1f}/{os.getloadavg()[0]:.1f}"
    pooled = {workers: LevelResult.pooled(runs) for workers, runs in throughs.items()}
    direct = LevelResult.pooled(directs)
    for workers, result in pooled.items():
        print(
            f"  {concurrency:>3} streams, {workers} worker(s): TTFT p50 direct "
            f"{direct.ttft_ms(0.5):.1f} ms, gateway {result.ttft_ms(0.5):.1f} ms (repeats "
            f"{', '.join(f'{o:+.1f}' for o in overheads[workers])}); throughput ratio "
            f"{result.tokens_per_s / direct.tokens_per_s:.3f}; load {load}",
            flush=True,
        )
    return Comparison(concurrency, load, direct, pooled, overheads)


def table(results: list[Comparison]) -> list[str]:
    rows = [
        "| streams | gateway workers | TTFT p50 direct / gateway (overhead) | TTFT p99 direct / "
        "gateway (overhead) | tokens/s direct | tokens/s gateway | ratio | gateway memory per "
        "stream | gateway CPU per chunk | TTFT p50 overhead of each repeat | load 1 min "
        "before/after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in results:
        direct = level.direct
        for workers, through in level.through.items():
            p50d, p50g = direct.ttft_ms(0.5), through.ttft_ms(0.5)
            p99d, p99g = direct.ttft_ms(0.99), through.ttft_ms(0.99)
            rows.append(
                f"| {level.concurrency} | {workers} "
                f"| {p50d:.1f} / {p50g:.1f} ms (**{p50g - p50d:+.1f} ms**) "
                f"| {p99d:.1f} / {p99g:.1f} ms ({p99g - p99d:+.1f} ms) "
                f"| {direct.tokens_per_s:.0f} | {through.tokens_per_s:.0f} "
                f"| **{through.tokens_per_s / direct.tokens_per_s:.3f}** "
                f"| {through.rss_delta_kib:.0f} KiB | {through.cpu_us_per_chunk:.0f} µs "
                f"| {' / '.join(f'{o:+.1f}' for o in level.repeat_overheads[workers])} ms "
                f"| {level.load} |"
            )
    return rows


def verdict(level: Comparison, workers: int) -> str:
    direct, through = level.direct, level.through[workers]
    overhead = through.ttft_ms(0.5) - direct.ttft_ms(0.5)
    ratio = through.tokens_per_s / direct.tokens_per_s
    met_ttft = overhead <= TARGET_TTFT_OVERHEAD_MS
    met_ratio = ratio >= TARGET_THROUGHPUT_RATIO
    label = "1 worker" if workers == 1 else f"{workers} workers"
    return (
        f"- {label}: TTFT overhead p50 ≤ {TARGET_TTFT_OVERHEAD_MS:g} ms "
        f"**{'met' if met_ttft else 'missed'}** ({overhead:+.1f} ms), throughput ≥ "
        f"{TARGET_THROUGHPUT_RATIO:g}× direct **{'met' if met_ratio else 'missed'}** "
        f"({ratio:.3f}×)."
    )


FINDINGS = (
    "Findings (py-spy on the gateway at 200 streams). Earlier code: ~70-85 µs of gateway CPU "
    "per relayed chunk, then ~60-65 µs after trimming FastAPI's routing and middleware, "
    "aiohttp's per-read timer and the chunk parsing off the hot path; TTFT overhead at 200 "
    "streams +19 to +72 ms between runs. The overhead was loop passes, not the work itself: a "
    "chunk went from aiohttp's parser into its stream reader, woke the relay task one loop pass "
    "later, and was written through uvicorn's `send`; under load each pass waits behind every "
    "other ready stream, and the way from a request to its first token took ~7 of them. Now "
    "(completions/upstream.py, client_wire.py) the upstream socket's protocol parses the "
    "response with httptools and, in the same read callback, measures the chunk and writes it "
    "to the client's socket (chunked framing as uvicorn's own; uvicorn's flow control pauses "
    "the upstream for a slow client): no task switch and no extra pass per chunk, and the first "
    "token leaves in the pass that reads it. Gateway CPU per chunk at 200 streams is now ~37-43 "
    "µs, of which ~60 % is the kernel's socket reads, writes and epoll (the floor for one read "
    "and one write per chunk), ~10 % the gateway's own Python. What is left of the TTFT "
    "overhead: the extra hop (the gateway's accept, request parsing and auth, its request to "
    "the model server on a kept-alive connection, the head's pass back), each pass a little "
    "longer the busier the loop. The p99 overhead at 200 streams (tens of ms) comes from "
    "moments that hold up many streams at once (traced with timestamps per request): a burst "
    "of API-key lookups whenever a cached key expired (now refreshed ahead, one lookup per "
    "key), the garbage collector's full passes in the simulator (now out of them) and in the "
    "gateway (40-60 ms, freeing tens of thousands of objects: not yet traced to their "
    "cycles), and moments when the simulator, the client and the gateway all want one of the "
    "two cores (the direct path has one process less in that contest). "
    "Figures move between runs with the machine's load (see each repeat's overhead)."
)


def report(results: list[Comparison], busy: Comparison, load: str) -> str:
    last = results[-1]
    verdicts = [verdict(last, workers) for workers in GATEWAY_WORKERS]
    one, two = (last.through[w].ttft_ms(0.5) - last.direct.ttft_ms(0.5) for w in (1, 2))
    verdicts.append(
        f"- The second worker took the TTFT overhead p50 at {last.concurrency} streams from "
        f"{one:+.1f} ms to {two:+.1f} ms in this run."
    )
    setup = (
        f"Simulated vLLM model: TTFT {MODEL_SPEC['ttft_ms']} ms, ITL {MODEL_SPEC['itl_ms']} ms, "
        f"{MODEL_SPEC['output_tokens']} tokens per answer (one token per chunk); {ROUNDS} streams "
        "per client worker, usage requested by the client in both paths; API key auth through "
        "the gateway; health and usage services running; every request on a new connection. At "
        "each level the direct path, the gateway with 1 process and the gateway with 2 worker "
        "processes (`CORTEX_GATEWAY_WORKERS=2`: the gateway using both cores, as a deployment on "
        f"a 2-core node would) take turns, {REPEATS} times, and each path's streams are pooled. "
        "Overheads are differences of percentiles; the overhead of each repeat on its own shows "
        "the spread. Machine load average "
        f"(1/5/15 min) when the run began: {load} on {os.cpu_count()} CPUs (other work on the "
        "machine competes with every path)."
    )
    busy_note = (
        f"The same {busy.concurrency} streams against a model decoding at the pace of a busy "
        f"real server (ITL {BUSY_SERVER_ITL_MS} ms, ~{1000 // BUSY_SERVER_ITL_MS} tokens/s per "
        "stream):"
    )
    return "\n".join(
        [
            "### Gateway streaming overhead",
            "",
            setup,
            "",
            *table(results),
            "",
            f"Targets at {last.concurrency} streams:",
            "",
            *verdicts,
            "",
            busy_note,
            "",
            *table([busy]),
            "",
            FINDINGS,
        ]
    )


def main() -> None:
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, services(Path(tmp)) as found:
        results, busy = asyncio.run(benchmark(found))
    write_section(NAME, COMMAND, report(results, busy, load))


if __name__ == "__main__":
    main()
