"""Benchmark runs in tests (the stack runs a bench replica): runs started and awaited."""

import asyncio
import time
from typing import Any

import httpx


async def allow_everyone(admin: httpx.AsyncClient, **limits: Any) -> None:
    answer = await admin.put("/admin/bench/limits", json={"who": "everyone", **limits})
    assert answer.status_code == 200, answer.text


async def start_run(client: httpx.AsyncClient, **settings: Any) -> str:
    body = {"model": "sim-vllm-small", "source": "web", **settings}
    answer = await client.post("/v1/bench/runs", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


async def run_view(client: httpx.AsyncClient, run_id: str) -> dict[str, Any] | None:
    answer = await client.get(f"/v1/bench/runs/{run_id}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def wait_for_run(
    client: httpx.AsyncClient, run_id: str, within: float = 120.0, status: str | None = None
) -> dict[str, Any]:
    """The run once it ended (or reached `status`)."""
    deadline = time.monotonic() + within
    while True:
        run = await run_view(client, run_id)
        if run is not None:
            now = run["summary"]["status"]
            if (status is not None and now == status) or (
                status is None and now not in ("queued", "running")
            ):
                return run
        assert time.monotonic() < deadline, f"run {run_id} still {run and run['summary']}"
        await asyncio.sleep(0.2)
