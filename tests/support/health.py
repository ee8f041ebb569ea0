"""Helpers for the health tests: simulator faults, the running list, waiting for conditions."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from cortex_contracts.topology import Topology
from tests.support.stack import TEST_MODELS, Stack

MODEL_NAMES = sorted(model["name"] for model in TEST_MODELS)
DEADLINE_SEC = 60.0  # generous: conditions are polled, never timed


def topology_of(stack: Stack) -> Topology:
    return Topology(prefix=stack.env["CORTEX_NATS_PREFIX"])


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, deadline_sec: float = DEADLINE_SEC
) -> None:
    deadline = time.monotonic() + deadline_sec
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {deadline_sec:g} s: {what}")
        await asyncio.sleep(0.1)


async def running_names(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/v1/models/running")
    assert response.status_code == 200, response.text
    return [model["served_model_name"] for model in response.json()["models"]]


async def wait_running(client: httpx.AsyncClient, expected: set[str]) -> None:
    async def reached() -> bool:
        return set(await running_names(client)) == expected

    await wait_until(reached, f"running models == {sorted(expected)}")


async def set_fault(stack: Stack, model: str, **fault: Any) -> None:
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=10) as client:
        response = await client.post(f"/_control/{model}", json=fault)
        response.raise_for_status()


async def reset_faults(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=10) as client:
        for model in MODEL_NAMES:
            (await client.post(f"/_control/{model}/reset")).raise_for_status()
