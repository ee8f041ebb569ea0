"""Model health through real processes: the health service polls the simulator, the gateway's
running list follows it, and broken upstreams drop out (and come back)."""

from collections.abc import AsyncIterator

import httpx
import nats
import pytest

from cortex_contracts.events.models import ModelHealth
from tests.conftest import LoginAs
from tests.support.health import (
    MODEL_NAMES,
    reset_faults,
    running_names,
    set_fault,
    topology_of,
    wait_running,
    wait_until,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

VLLM, LLAMACPP = "sim-vllm-small", "sim-llamacpp-large"


@pytest.fixture(autouse=True)
async def all_models_healthy(stack: Stack, login_as: LoginAs) -> AsyncIterator[None]:
    """Every test starts with both models running and leaves no fault behind (shared stack)."""
    await reset_faults(stack)
    await wait_running(await login_as(), set(MODEL_NAMES))
    yield
    await reset_faults(stack)


def chat(model: str) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "Hello"}]}


async def test_running_list_shows_healthy_models_with_the_owners_fields(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()

    response = await client.get("/v1/models/running")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "models": [
            {
                "served_model_name": LLAMACPP,
                "engine_type": "llamacpp",
                "task": "generate",
                "state": "running",
                "max_model_len": 32768,  # llama.cpp: n_ctx 131072 shared by 4 slots
            },
            {
                "served_model_name": VLLM,
                "engine_type": "vllm",
                "task": "generate",
                "state": "running",
                "max_model_len": 8192,
            },
        ]
    }


async def test_running_list_needs_a_login(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        response = await anonymous.get("/v1/models/running")
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_a_stopped_upstream_drops_out_and_returns_when_it_comes_back(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    await set_fault(stack, VLLM, down=True)

    await wait_running(client, {LLAMACPP})

    await reset_faults(stack)
    await wait_running(client, {LLAMACPP, VLLM})


async def test_a_hung_upstream_drops_out_while_the_others_stay_listed(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    await set_fault(stack, LLAMACPP, hang=True)

    async def hung_model_gone_and_other_listed() -> bool:
        names = await running_names(client)
        assert VLLM in names, "a hung upstream must not take the others down"
        return LLAMACPP not in names

    await wait_until(hung_model_gone_and_other_listed, f"{LLAMACPP} leaves the running list")

    await reset_faults(stack)
    await wait_running(client, {LLAMACPP, VLLM})


@pytest.mark.parametrize("fault", [{"down": True}, {"hang": True}], ids=["stopped", "hung"])
async def test_completions_to_a_dropped_out_model_get_503(
    stack: Stack, login_as: LoginAs, fault: dict[str, bool]
) -> None:
    client = await login_as()
    await set_fault(stack, VLLM, **fault)
    await wait_running(client, {LLAMACPP})

    completion = await client.post("/v1/chat/completions", json=chat(VLLM))

    assert completion.status_code == 503, completion.text


async def test_a_hung_upstream_does_not_delay_the_others_results(stack: Stack) -> None:
    """In every round all models are checked together; the healthy model's result is published
    while the hung model's probe is still waiting for its timeout."""
    topology = topology_of(stack)
    nc = await nats.connect(stack.env["CORTEX_NATS_URL"])
    try:
        kv = await nc.jetstream().key_value(topology.health_bucket)
        watcher = await kv.watchall()
        await set_fault(stack, LLAMACPP, hang=True)
        arrived: list[ModelHealth] = []

        async def hung_result_published() -> bool:
            update = await watcher.updates(timeout=30)
            if update is not None and update.value:
                health = ModelHealth.model_validate_json(update.value)
                arrived.append(health)
                return health.served_model_name == LLAMACPP and health.status == "unhealthy"
            return False

        await wait_until(hung_result_published, f"a timed-out result for {LLAMACPP}")
        await watcher.stop()
    finally:
        await nc.drain()

    timed_out = arrived[-1]
    assert timed_out.last_error is not None and "no answer within" in timed_out.last_error
    same_round_before = [
        h
        for h in arrived[:-1]
        if h.served_model_name == VLLM and h.checked_at == timed_out.checked_at
    ]
    assert [h.status for h in same_round_before] == ["healthy"]


async def test_refresh_health_reports_a_hung_upstream_without_holding_back_the_others(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    await set_fault(stack, LLAMACPP, hang=True)

    response = await admin.post("/admin/upstreams/refresh-health")

    assert response.status_code == 200, response.text
    results = {r["served_model_name"]: r for r in response.json()["results"]}
    assert set(results) == {LLAMACPP, VLLM}
    assert results[VLLM]["status"] == "healthy"
    assert results[LLAMACPP]["status"] == "unhealthy"
    assert "no answer within" in results[LLAMACPP]["last_error"]
    assert LLAMACPP not in await running_names(admin)
