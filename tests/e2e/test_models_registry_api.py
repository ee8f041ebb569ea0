"""Model constraints, tokenization and the admin registry API, through real processes."""

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import nats
import pytest

from cortex_contracts.events.audit import AuditRecorded
from cortex_contracts.topology import Topology
from tests.conftest import LoginAs
from tests.support.accounts import audit_events
from tests.support.clients import login
from tests.support.completions import eventually, register, unique, wait_running
from tests.support.stack import TEST_MODELS, Stack

pytestmark = pytest.mark.e2e

VLLM, LLAMACPP = "sim-vllm-small", "sim-llamacpp-large"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "How many tokens is this, exactly?"},
]


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(stack.gateway_url, "admin", stack.admin_password)
    yield client
    await client.aclose()


@pytest.fixture
async def user(login_as: LoginAs) -> httpx.AsyncClient:
    client = await login_as()
    await wait_running(client, {VLLM, LLAMACPP})
    return client


@pytest.fixture
async def scratch(admin: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """Names registered by a test, removed afterwards (the stack is shared)."""
    names: list[str] = []
    yield names
    for name in names:
        await admin.delete(f"/admin/upstreams/{quote(name, safe='')}")


def sim_base(stack: Stack, model: str) -> str:
    return f"{stack.simulator_url}/m/{model}"


@pytest.mark.parametrize(
    ("model", "engine", "context"),
    [(VLLM, "vllm", 8192), (LLAMACPP, "llamacpp", 32768)],  # llama.cpp: 131072 over 4 slots
)
async def test_constraints_have_the_owners_fields_with_the_engines_context(
    user: httpx.AsyncClient, model: str, engine: str, context: int
) -> None:
    response = await user.get(f"/v1/models/{model}/constraints")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "served_model_name": model,
        "engine_type": engine,
        "task": "generate",
        "context_size": None,
        "max_model_len": context,
        "max_tokens_default": 512,
        "request_defaults": None,
        "supports_streaming": True,
        "supports_system_prompt": True,
    }


async def test_configured_values_win_and_names_may_hold_a_slash(
    stack: Stack, admin: httpx.AsyncClient, user: httpx.AsyncClient, scratch: list[str]
) -> None:
    name = f"org/{unique('configured')}"
    scratch.append(name)
    await register(
        admin,
        name,
        sim_base(stack, VLLM),
        "vllm",
        context_size=4096,
        max_tokens_default=256,
        request_defaults={"temperature": 0.2},
    )

    response = await user.get(f"/v1/models/{quote(name, safe='')}/constraints")

    assert response.status_code == 200, response.text
    got = response.json()
    assert (got["context_size"], got["max_model_len"], got["max_tokens_default"]) == (
        4096,
        4096,
        256,
    )
    assert got["request_defaults"] == {"temperature": 0.2}


@pytest.mark.parametrize("model", [VLLM, LLAMACPP])
async def test_tokenize_counts_what_the_engine_will_count(
    user: httpx.AsyncClient, model: str
) -> None:
    counted = await user.post(f"/v1/models/{model}/tokenize", json={"messages": MESSAGES})
    answer = await user.post(
        "/v1/chat/completions", json={"model": model, "messages": MESSAGES, "max_tokens": 1}
    )

    assert counted.status_code == 200, counted.text
    assert answer.status_code == 200, answer.text
    assert counted.json()["exact"] is True
    assert counted.json()["count"] == answer.json()["usage"]["prompt_tokens"]
    assert counted.json()["max_model_len"] == {VLLM: 8192, LLAMACPP: 32768}[model]


async def test_tokenize_plain_text(user: httpx.AsyncClient) -> None:
    response = await user.post(f"/v1/models/{VLLM}/tokenize", json={"text": "Hello, world"})

    assert response.json() == {"count": 3, "max_model_len": 8192, "exact": True}


async def test_tokenize_estimates_for_servers_without_a_tokenizer(
    stack: Stack, admin: httpx.AsyncClient, user: httpx.AsyncClient, scratch: list[str]
) -> None:
    name = unique("plain-openai")
    scratch.append(name)
    await register(admin, name, sim_base(stack, VLLM), "openai", context_size=2048)

    response = await user.post(f"/v1/models/{name}/tokenize", json={"text": "x" * 400})

    assert response.json() == {"count": 100, "max_model_len": 2048, "exact": False}


async def test_bad_model_requests_explain_themselves(stack: Stack, user: httpx.AsyncClient) -> None:
    missing = await user.get("/v1/models/no-such-model/constraints")
    neither = await user.post(f"/v1/models/{VLLM}/tokenize", json={})
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        nobody = await anonymous.get(f"/v1/models/{VLLM}/constraints")

    assert missing.status_code == 404 and "no-such-model" in missing.json()["detail"]
    assert neither.status_code == 422 and "messages" in neither.json()["detail"]
    assert nobody.status_code == 401


async def test_admin_registers_replaces_and_removes_upstreams(
    stack: Stack, admin: httpx.AsyncClient, user: httpx.AsyncClient, scratch: list[str]
) -> None:
    name = unique("managed")
    scratch.append(name)
    body = {"served_model_name": name, "base_url": sim_base(stack, VLLM), "engine_type": "vllm"}

    created = await admin.post("/admin/upstreams", json={**body, "api_key": "upstream-secret"})
    replaced = await admin.post("/admin/upstreams", json={**body, "context_size": 1000})
    listed = await admin.get("/admin/upstreams")
    removed = await admin.delete(f"/admin/upstreams/{name}")
    again = await admin.delete(f"/admin/upstreams/{name}")
    gone = await user.get(f"/v1/models/{name}/constraints")

    assert created.status_code == 201, created.text
    assert created.json()["has_api_key"] is True and "upstream-secret" not in created.text
    assert replaced.status_code == 200
    assert replaced.json()["has_api_key"] is True  # kept: the edit did not send the key again
    assert replaced.json()["context_size"] == 1000
    assert "upstream-secret" not in listed.text
    assert removed.status_code == 204
    assert again.status_code == 404
    assert gone.status_code == 404
    actions = await audit_actions(stack, name)
    assert actions.count("upstream.registered") == 2 and actions.count("upstream.removed") == 1


async def test_only_admins_change_the_registry(stack: Stack, user: httpx.AsyncClient) -> None:
    body = {
        "served_model_name": unique("x"),
        "base_url": "http://127.0.0.1:1",
        "engine_type": "vllm",
    }

    refused = await user.post("/admin/upstreams", json=body)
    removal = await user.delete(f"/admin/upstreams/{VLLM}")

    assert refused.status_code == 403
    assert removal.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"engine_type": "tgi"}, "engine_type"),
        ({"served_model_name": "has space"}, "served_model_name"),
        ({"base_url": "not a url"}, "base_url"),
    ],
)
async def test_invalid_registrations_are_422(
    admin: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {"served_model_name": unique("bad"), "base_url": "http://h:1", "engine_type": "vllm"}

    response = await admin.post("/admin/upstreams", json={**body, **change})

    assert response.status_code == 422
    assert field in response.json()["detail"]


async def test_every_replica_sees_a_registration_at_once(
    stack: Stack, admin: httpx.AsyncClient, scratch: list[str]
) -> None:
    replica = stack.start_extra("gateway")
    try:
        other = await login(replica.url, "admin", stack.admin_password)
        name = unique("shared")
        scratch.append(name)
        await register(admin, name, sim_base(stack, VLLM), "vllm", context_size=123)

        async def seen() -> bool:
            response = await other.get(f"/v1/models/{name}/constraints")
            return response.status_code == 200 and response.json()["max_model_len"] == 123

        await eventually(seen, "the other replica knows the new model")
        await other.aclose()
    finally:
        replica.stop()


async def audit_actions(stack: Stack, subject_id: str) -> list[str]:
    topology = Topology(prefix=stack.env["CORTEX_NATS_PREFIX"])
    nc = await nats.connect(stack.env["CORTEX_NATS_URL"])
    try:
        js = nc.jetstream()
        sub = await js.subscribe(topology.audit_all_subjects, ordered_consumer=True)
        actions = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except nats.errors.TimeoutError:
                    break
                event = AuditRecorded.model_validate_json(msg.data)
                if event.aggregate_id == subject_id:
                    actions.append(event.action)
        finally:
            await sub.unsubscribe()
        return actions
    finally:
        await nc.drain()


async def test_an_upstream_edit_is_audited_with_what_changed_never_the_key(
    stack: Stack, admin: httpx.AsyncClient, scratch: list[str]
) -> None:
    name = unique("edited")
    scratch.append(name)
    body = {"served_model_name": name, "base_url": sim_base(stack, VLLM), "engine_type": "vllm"}
    admin_id = (await admin.get("/auth/me")).json()["id"]

    await admin.post("/admin/upstreams", json={**body, "api_key": "first-secret"})
    edited = await admin.post(
        "/admin/upstreams", json={**body, "context_size": 2048, "api_key": "second-secret"}
    )

    assert edited.status_code == 200, edited.text
    registered = [
        e for e in await audit_events(stack, "upstream.registered") if e["aggregate_id"] == name
    ]
    assert [e["details"]["replaced"] for e in registered] == [False, True]
    assert registered[1]["details"]["changes"] == {
        "context_size": {"from": None, "to": 2048},
        "api_key": "replaced",
    }
    assert all(e["actor"]["user_id"] == admin_id for e in registered)
    assert "first-secret" not in str(registered) and "second-secret" not in str(registered)


async def test_the_models_file_seeding_at_start_is_audited_by_the_system(stack: Stack) -> None:
    seeded = [
        e
        for e in await audit_events(stack, "upstream.registered")
        if e["details"].get("by") == "models_file"
    ]

    # One event per model of the file, though every gateway worker seeds at start.
    assert sorted(e["aggregate_id"] for e in seeded) == sorted(m["name"] for m in TEST_MODELS)
    assert all(e["actor"]["user_id"] is None and not e["details"]["replaced"] for e in seeded)
