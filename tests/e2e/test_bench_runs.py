"""Benchmark runs through the real stack: figures that match the simulator's configured timing
and recompute from the raw samples, a cancel that stops the load, guard rails, the CLI."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import LoginAs
from tests.support.accounts import audit_events, create_key, stored_events
from tests.support.bench import allow_everyone, run_view, start_run, wait_for_run
from tests.support.processes import console_script
from tests.support.simulator import control, state_of
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

MODEL = "sim-vllm-small"
TTFT_MS, ITL_MS, OUTPUT_TOKENS = 200.0, 25.0, 12


@pytest.fixture
async def simulator(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=10) as client:
        yield client
        await client.post(f"/_control/{MODEL}/reset")


@pytest.fixture
async def admin(login_as: LoginAs) -> httpx.AsyncClient:
    client = await login_as("admin")
    await allow_everyone(client)  # each test starts from the defaults it needs
    return client


def _stats(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "mean": float(array.mean()),
        "median": float(np.percentile(array, 50)),
        "p90": float(np.percentile(array, 90)),
        "p99": float(np.percentile(array, 99)),
    }


async def test_figures_match_the_configured_timing_and_the_raw_samples(
    admin: httpx.AsyncClient, simulator: httpx.AsyncClient
) -> None:
    await control(simulator, MODEL, ttft_ms=TTFT_MS, itl_ms=ITL_MS)
    run_id = await start_run(
        admin, levels=[1, 2], requests_per_level=8, output_tokens=OUTPUT_TOKENS, seed=7
    )
    run = await wait_for_run(admin, run_id)
    assert run["summary"]["status"] == "complete"
    assert run["engine_version"] and run["max_context"] == 8192  # the engine told them
    assert run["gateway_version"]
    first = run["levels"][0]["stats"]
    assert first["completed"] == 8 and first["errors"] == 0
    # The samples below hold the model server's configured timing: no request sees its first
    # token before the server sent it, nor its last before every gap has passed. How close they
    # come is a speed figure, measured by `python -m bench driver` (rule 5: no timed assertions).
    assert first["total_output_tokens"] == 8 * OUTPUT_TOKENS
    # Every figure recomputes from the raw samples kept with the run (numpy, independently).
    exported = await admin.get(f"/v1/bench/runs/{run_id}/export", params={"format": "json"})
    assert exported.status_code == 200
    for level in exported.json()["levels"]:
        samples = level["samples"]
        assert len(samples) == level["stats"]["completed"]
        reported = level["stats"]
        ttft = [s["ttft_ms"] for s in samples]
        e2el = [s["e2el_ms"] for s in samples]
        itl = [gap for s in samples for gap in s["itl_ms"]]
        tpot = [(s["e2el_ms"] - s["ttft_ms"]) / (s["output_tokens"] - 1) for s in samples]
        for name, values in (("ttft_ms", ttft), ("e2el_ms", e2el), ("itl_ms", itl),
                             ("tpot_ms", tpot)):  # fmt: skip
            for stat, value in _stats(values).items():
                assert reported[name][stat] == pytest.approx(value, rel=1e-9, abs=1e-9), name
        assert min(ttft) >= TTFT_MS
        assert min(e2el) >= TTFT_MS + (OUTPUT_TOKENS - 1) * ITL_MS
        assert all(s["ttft_ms"] < s["e2el_ms"] for s in samples)
        starts = [s["start_ms"] for s in samples]
        duration_s = (max(s + e for s, e in zip(starts, e2el, strict=True)) - min(starts)) / 1000
        assert reported["request_throughput"] == pytest.approx(len(samples) / duration_s)
    # The engine's gauges were sampled beside the load.
    assert any(s["num_requests_running"] >= 1 for s in run["engine_samples"])
    csv = await admin.get(f"/v1/bench/runs/{run_id}/export", params={"format": "csv"})
    assert csv.status_code == 200 and csv.text.count("\r\n") == 3  # header and two levels


async def test_cancel_stops_the_load_at_once(
    admin: httpx.AsyncClient, simulator: httpx.AsyncClient
) -> None:
    await control(simulator, MODEL, ttft_ms=50, itl_ms=20)
    run_id = await start_run(admin, levels=[4, 8], requests_per_level=400, output_tokens=40)
    deadline = time.monotonic() + 60
    while True:  # some requests answered
        run = await run_view(admin, run_id)
        if run and run["progress"] and run["progress"]["done"] >= 4:
            break
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.1)
    cancelled = await admin.post(f"/v1/bench/runs/{run_id}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    run = await wait_for_run(admin, run_id, within=30)
    assert run["summary"]["status"] == "cancelled"
    assert run["levels"][0]["partial"] is True
    # No stream is left open and none starts any more.
    deadline = time.monotonic() + 10
    while (await state_of(simulator, MODEL))["active_streams"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    seen = (await state_of(simulator, MODEL))["requests_total"]
    await asyncio.sleep(1.0)
    assert (await state_of(simulator, MODEL))["requests_total"] == seen
    again = await admin.post(f"/v1/bench/runs/{run_id}/cancel")
    assert again.status_code == 409


async def test_guard_rails(admin: httpx.AsyncClient, login_as: LoginAs, stack: Stack) -> None:
    user = await login_as()
    limited = await admin.put("/admin/bench/limits", json={"who": "admins"})
    assert limited.status_code == 200
    refused = await user.post("/v1/bench/runs", json={"model": MODEL})
    assert refused.status_code == 403
    await allow_everyone(admin, max_concurrency=8, max_requests=100)
    changes = await audit_events(stack, "bench.limits_changed")
    assert changes[-1]["details"]["after"]["max_concurrency"] == 8
    for body, words in (
        ({"levels": [4, 16]}, "concurrency 16 is over the limit of 8"),
        ({"levels": [1, 2], "requests_per_level": 60}, "over the limit of 100"),
        ({"levels": [0]}, "greater than 0"),
        ({"shape": "slo_search", "levels": [1, 8]}, "needs at least one SLO"),
        ({"model": "no-such", "levels": [1], "requests_per_level": 5}, "Unknown model"),
    ):
        answer = await user.post("/v1/bench/runs", json={"model": MODEL, **body})
        assert answer.status_code == 422, answer.text
        assert words in answer.text
    # Users see their own runs only.
    mine = await user.get("/v1/bench/runs")
    assert mine.status_code == 200 and mine.json()["runs"] == []


async def test_cli_run_is_stored_and_fails_a_missed_slo(
    admin: httpx.AsyncClient, stack: Stack, tmp_path: Path
) -> None:
    me = (await admin.get("/auth/me")).json()
    key = (await create_key(admin, me["id"], name="ci"))["key"]
    output = tmp_path / "run.json"
    command = [
        console_script("cortex-bench"), "run", "--url", stack.gateway_url, "--model", MODEL,
        "--concurrency", "1,2", "--requests", "4", "--output-len", "8",
        "--slo-ttft-ms", "0.001", "--output", str(output),
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CORTEX_API_KEY": key},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the TTFT SLO cannot be met
    assert "TTFT p50" in done.stdout and "SLOs were missed" in done.stderr
    written: dict[str, Any] = json.loads(output.read_text())
    assert [level["load"] for level in written["levels"]] == [1, 2]
    assert len(written["levels"][0]["samples"]) == 4
    listed = (await admin.get("/v1/bench/runs", params={"model": MODEL})).json()["runs"]
    assert any(r["id"] == written["summary"]["id"] and r["source"] == "cli" for r in listed)
    assert sys.executable  # the CLI ran from this environment


async def test_with_two_replicas_one_owns_each_run(admin: httpx.AsyncClient, stack: Stack) -> None:
    second = stack.start_extra(
        "bench", CORTEX_BENCH_GATEWAY_URL=stack.gateway_url, CORTEX_BENCH_REPLICA="second"
    )
    try:
        runs = []
        for _ in range(2):  # one after the other (one run at a time per model)
            run_id = await start_run(admin, levels=[2], requests_per_level=6, output_tokens=8)
            runs.append(await wait_for_run(admin, run_id))
    finally:
        second.stop()
    prefix = stack.env["CORTEX_NATS_PREFIX"]
    for run in runs:
        assert run["summary"]["status"] == "complete"
        assert run["levels"][0]["stats"]["completed"] == 6  # not 12: nobody ran it twice
        started = await stored_events(
            stack, f"{prefix.upper()}_BENCH", f"{prefix}.bench.{run['summary']['id']}.started"
        )
        assert len(started) == 1
