"""kill -9 of usage replicas in the middle of a burst of completions loses and doubles nothing."""

import asyncio
import time
import uuid

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack
from tests.support.usage import (
    all_records,
    completion,
    jetstream,
    publish_all,
    topology_of,
    wait_until_recorded,
)

pytestmark = pytest.mark.e2e

BURST = 4000


async def recorded_count(admin: httpx.AsyncClient, model: str) -> int:
    response = await admin.get("/admin/usage", params={"model": model, "group_by": "model"})
    assert response.status_code == 200, response.text
    groups = response.json()["groups"]
    return int(groups[0]["requests"]) if groups else 0


async def wait_for_first_records(admin: httpx.AsyncClient, model: str) -> None:
    deadline = time.monotonic() + 60
    while await recorded_count(admin, model) == 0:
        assert time.monotonic() < deadline, "nothing recorded"
        await asyncio.sleep(0.05)


def restart_usage(stack: Stack) -> None:
    stack.processes["usage"] = ServiceProcess("usage", stack.env).start()


async def test_kill_9_mid_burst_loses_and_doubles_nothing(stack: Stack, login_as: LoginAs) -> None:
    admin = await login_as("admin")
    topology = topology_of(stack)
    model = f"crash-{uuid.uuid4().hex[:8]}"
    events = [
        completion(model, prompt_tokens=i % 97 + 1, completion_tokens=i % 13, total_tokens=0)
        for i in range(BURST)
    ]
    survivor = stack.start_extra("usage")  # a second replica sharing the durable consumer
    try:
        async with jetstream(stack) as js:
            first_half = asyncio.create_task(publish_all(js, topology, events[: BURST // 2]))
            await wait_for_first_records(admin, model)
            stack.processes["usage"].kill()  # SIGKILL: no goodbye, batches in hand
            await first_half
            last = await publish_all(js, topology, events[BURST // 2 :])
            survivor.kill()  # now no replica is left: the rest waits in the stream
            restart_usage(stack)
            await wait_until_recorded(js, topology, last)
    finally:
        survivor.stop()
        if stack.processes["usage"].process and stack.processes["usage"].process.poll() is not None:
            restart_usage(stack)

    records = await all_records(admin, model=model)
    assert len(records) == BURST
    assert {r["event_id"] for r in records} == {str(e.event_id) for e in events}
    [group] = (
        await admin.get("/admin/usage", params={"model": model, "group_by": "model"})
    ).json()["groups"]
    assert group["requests"] == BURST
    assert group["prompt_tokens"] == sum(e.prompt_tokens for e in events)
    assert group["completion_tokens"] == sum(e.completion_tokens for e in events)
