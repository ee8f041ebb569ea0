"""The benchmark driver's own ceiling: how many streams per second one bench replica drives
before its measurements drift.

The driver (cortex_bench.driver, the code a bench replica runs) streams straight to a simulated
model with a fixed TTFT and ITL (no gateway: its overhead is measured in the gateway sections),
in a closed loop at rising concurrency. The simulator's configured values are the truth; the
drift is what the driver reports above them. The simulator runs in its own process on the same
2 shared cores, so part of the drift at the top is the simulator's (and the machine's) own.
"""

import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.gateway_stack import bin_path
from bench.report import write_section
from cortex_bench import stats
from cortex_bench.driver import Budget, Driver, Target
from cortex_bench.prompts import prompt_stream
from cortex_contracts.events.bench import PromptSettings, RequestSample, RunSettings, Slo
from cortex_devstack.ports import free_port

NAME = "bench-driver"
COMMAND = "python -m bench driver"
MODEL = "drift-vllm"
TTFT_MS, ITL_MS, OUTPUT_TOKENS = 100.0, 10.0, 32
CONCURRENCY = (1, 8, 32, 128, 256)
ROUNDS_PER_LEVEL = 4  # requests per level = concurrency x rounds (at least 40)
DRIFT_LIMIT = 0.05  # "drifted": median TTFT more than 5 % above the configured value


def _start_simulator(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    model = {
        "name": MODEL,
        "personality": "vllm",
        "ttft_ms": TTFT_MS,
        "itl_ms": ITL_MS,
        "output_tokens": OUTPUT_TOKENS,
    }
    env = {
        **os.environ,
        "CORTEX_SIMULATOR_PORT": str(port),
        "CORTEX_SIMULATOR_MODELS": json.dumps([model]),
        "CORTEX_SIMULATOR_LOG_LEVEL": "warning",
    }
    log = open(work / "simulator.log", "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        [bin_path("cortex-simulator")], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("the simulator did not start")


async def _level(simulator_url: str, concurrency: int) -> tuple[list[RequestSample], float, float]:
    """The samples, the wall time, and the CPU time this (driver) process used."""
    settings = RunSettings(
        model=MODEL,
        levels=[concurrency],
        output_tokens=OUTPUT_TOKENS,
        prompt=PromptSettings(kind="fixed", text="Tell me a story."),
    )
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        driver = Driver(client, Target(f"{simulator_url}/m/{MODEL}", "unused", settings))
        samples: list[RequestSample] = []
        requests = max(40, concurrency * ROUNDS_PER_LEVEL)
        started, cpu = time.perf_counter(), time.process_time()
        await driver.closed_loop(
            prompt_stream(settings.prompt, 0),
            concurrency,
            Budget(requests, None),
            samples,
            lambda _: None,
        )
        return samples, time.perf_counter() - started, time.process_time() - cpu


def _row(
    concurrency: int,
    samples: list[RequestSample],
    wall_s: float,
    cpu_s: float,
    baseline: float | None,
) -> tuple[str, float, bool]:
    """The table row, the median TTFT, and whether it stayed within 5 % of the same run's
    concurrency-1 median (the machine's own slowness cancels out of that ratio)."""
    figures = stats.level_stats(samples, Slo())
    ttft, tpot = figures.ttft_ms, figures.tpot_ms
    median = ttft.median or 0.0
    drift = median / TTFT_MS - 1
    tpot_drift = (tpot.median or 0) / ITL_MS - 1
    versus = median / (baseline or median) - 1
    within = figures.errors == 0 and versus <= DRIFT_LIMIT
    return (
        f"| {concurrency} | {figures.completed / wall_s:.0f} | {figures.errors} | "
        f"{median:.1f} ({drift:+.1%}) | {versus:+.1%} | {ttft.p99:.1f} | "
        f"{tpot.median:.2f} ({tpot_drift:+.1%}) | {cpu_s * 1000 / len(samples):.1f} | "
        f"{'yes' if within else 'no'} |",
        median,
        within,
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        process, url = _start_simulator(Path(work))
        try:
            rows, ceiling, baseline, cpu_per_stream = [], 0.0, None, 0.0
            for concurrency in CONCURRENCY:
                samples, wall_s, cpu_s = asyncio.run(_level(url, concurrency))
                row, median, within = _row(concurrency, samples, wall_s, cpu_s, baseline)
                cpu_per_stream = cpu_s / len(samples)  # the busiest level: steady state
                baseline = baseline or median
                print(row, flush=True)
                rows.append(row)
                if within:
                    ceiling = max(ceiling, len(samples) / wall_s)
        finally:
            process.terminate()
            process.wait(timeout=20)
    body = f"""### Benchmark driver ceiling (one bench replica)

The bench service's driver streams straight to a simulated vLLM model (TTFT {TTFT_MS:g} ms, ITL
{ITL_MS:g} ms, {OUTPUT_TOKENS} tokens) in a closed loop; `drift` is how far the reported figure
is above the configured one. The simulator shares the machine's 2 cores (with other engineers'
work): some of the drift at the top is the simulator's and the machine's, not the driver's.

| concurrency | streams/s | errors | TTFT p50 ms (vs configured) | TTFT p50 vs c=1 | TTFT p99 ms \
| TPOT p50 ms (vs configured) | driver CPU ms / stream | within 5 % of c=1 |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Load average while it ran: {os.getloadavg()[0]:.1f} on 2 cores. One replica drove up to
**{ceiling:.0f} streams/s** with its median TTFT within 5 % of the same run's concurrency-1
median (the ratio in the same run; the absolute drift against the configured value is mostly
the loaded machine, as the concurrency-1 row shows). Past that, spread runs over more bench
replicas (one run is owned by one replica) or expect the figures to include queueing.

The figure that does not depend on the machine's load is the driver's own CPU per stream
({OUTPUT_TOKENS} streamed chunks parsed and timed) at the busiest level, where connections are
reused (the concurrency-1 row also pays the client's start): {cpu_per_stream * 1000:.1f} ms,
so one replica on one free core drives at most about **{1 / cpu_per_stream:.0f} streams/s**
(~{OUTPUT_TOKENS / cpu_per_stream:.0f} chunks/s) before its own event loop, not the model, is the
bottleneck; keep a run well below that (half, for timings within a few percent), or add replicas.
"""
    write_section(NAME, COMMAND, body)


if __name__ == "__main__":
    main()
