"""Completions through the gateway (streamed and whole, playground and API key, success and upstream
error) become exactly one usage record each, with the tokens the upstream reported."""

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from cortex_gateway.auth.secrets import api_key_prefix, new_api_key, token_hash
from tests.conftest import LoginAs
from tests.support.backends import libpq_url
from tests.support.clients import api_key_client, login
from tests.support.stack import Stack
from tests.support.usage import jetstream, topology_of, wait_until_recorded

pytestmark = pytest.mark.e2e

HEALTHY, FAILING = "sim-vllm-small", "sim-llamacpp-large"
MAX_TOKENS = 12  # below both simulated models' natural length: exactly 12 tokens come back


def prompt() -> str:
    """Different every time (no cache can answer), always the same number of tokens."""
    return f"Tell me about {secrets.token_hex(4)} please"


@dataclass
class Sent:
    completion_id: str
    source: str
    stream: bool
    failed: bool
    prompt_tokens: int | None  # as the upstream reported them to the client, when it did
    completion_tokens: int | None


def user_in_db(stack: Stack, username: str) -> tuple[str, str]:
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        row = conn.execute("SELECT id, org_id FROM users WHERE username = %s", (username,))
        user_id, org_id = row.fetchone() or (None, None)
    assert user_id and org_id
    return user_id, org_id


def api_key_in_db(stack: Stack, user_id: str) -> tuple[str, str]:
    """A key straight in the gateway's table (a fast fixture); returns (key id, key)."""
    key, key_id = new_api_key(), str(uuid.uuid4())
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        conn.execute(
            "INSERT INTO api_keys (id, key_hash, prefix, name, user_id, created_at)"
            " VALUES (%s, %s, %s, 'usage test', %s, now())",
            (key_id, token_hash(key), api_key_prefix(key), user_id),
        )
    return key_id, key


async def wait_running(client: httpx.AsyncClient, names: set[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        response = await client.get("/v1/models/running")
        running = {m["served_model_name"] for m in response.json().get("models", [])}
        if names <= running:
            return
        assert time.monotonic() < deadline, f"{names - running} never became healthy"
        await asyncio.sleep(0.2)


def sse_data(text: str) -> list[dict[str, Any]]:
    payloads = []
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            payloads.append(json.loads(line[5:]))
    return payloads


async def complete(
    client: httpx.AsyncClient, source: str, *, model: str, stream: bool, include_usage: bool
) -> Sent:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt()}],
        "max_tokens": MAX_TOKENS,
        "stream": stream,
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    response = await client.post("/v1/chat/completions", json=body)
    completion_id = response.headers.get("X-Cortex-Completion-Id", "")
    failed = model == FAILING
    usage: dict[str, Any] = {}
    if failed:
        assert response.status_code >= 400 or "error" in response.text, response.text
    elif stream:
        assert response.status_code == 200, response.text
        chunks = sse_data(response.text)
        usage = next((c["usage"] for c in chunks if c.get("usage")), {})
    else:
        assert response.status_code == 200, response.text
        usage = response.json()["usage"]
    return Sent(
        completion_id,
        source,
        stream,
        failed,
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
    )


async def simulator_prompt_tokens(stack: Stack, model: str, content: str) -> int:
    async with httpx.AsyncClient(base_url=stack.simulator_url) as simulator:
        response = await simulator.post(
            f"/m/{model}/tokenize",
            json={"model": model, "messages": [{"role": "user", "content": content}]},
        )
        response.raise_for_status()
        return int(response.json()["count"])


async def usage_records_of(admin: httpx.AsyncClient, user_id: str) -> list[dict[str, Any]]:
    response = await admin.get("/admin/usage", params={"user_id": user_id, "limit": 1000})
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


async def test_each_completion_through_the_gateway_is_one_record_with_the_upstream_tokens(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    username, password = stack.create_user()
    playground = await login(stack.gateway_url, username, password)
    user_id, org_id = user_in_db(stack, username)
    key_id, key = api_key_in_db(stack, user_id)
    api = api_key_client(stack.gateway_url, key)
    await wait_running(playground, {HEALTHY, FAILING})
    async with httpx.AsyncClient(base_url=stack.simulator_url) as simulator:
        failing = await simulator.post(
            f"/_control/{FAILING}", json={"fail_status": 500, "fail_message": "engine on fire"}
        )
        failing.raise_for_status()
        sent: list[Sent] = []
        try:
            for client, source in ((playground, "playground"), (api, "api")):
                for stream, include_usage in ((False, False), (True, True), (True, False)):
                    for model in (HEALTHY, FAILING):
                        sent.append(
                            await complete(
                                client,
                                source,
                                model=model,
                                stream=stream,
                                include_usage=include_usage,
                            )
                        )
        finally:
            await simulator.post(f"/_control/{FAILING}/reset")
            await playground.aclose()
            await api.aclose()

    topology = topology_of(stack)
    async with jetstream(stack) as js:
        deadline = time.monotonic() + 60
        while len(await usage_records_of(admin, user_id)) < len(sent):
            assert time.monotonic() < deadline, "usage records missing"
            await asyncio.sleep(0.2)
        stream_end = (await js.stream_info(topology.usage_stream)).state.last_seq
        await wait_until_recorded(js, topology, stream_end)
    records = await usage_records_of(admin, user_id)
    upstream_prompt_tokens = await simulator_prompt_tokens(stack, HEALTHY, prompt())

    assert len(records) == len(sent) == 12
    by_id = {record["completion_id"]: record for record in records}
    assert set(by_id) == {s.completion_id for s in sent}, "one record per completion"
    for request in sent:
        record = by_id[request.completion_id]
        assert (record["user_id"], record["org_id"]) == (user_id, org_id)
        assert record["source"] == request.source
        assert record["api_key_id"] == (key_id if request.source == "api" else None)
        assert record["stream"] is request.stream
        assert record["username"] == username
        if request.failed:
            assert record["model"] == FAILING
            assert record["status"] == "error"
            assert record["error"]
            assert record["completion_tokens"] == 0
            continue
        assert record["model"] == HEALTHY
        assert record["status"] == "complete"
        assert record["completion_tokens"] == MAX_TOKENS
        assert record["prompt_tokens"] == upstream_prompt_tokens
        assert record["total_tokens"] == record["prompt_tokens"] + record["completion_tokens"]
        if request.stream:
            assert record["ttft_ms"] is not None and record["latency_ms"] >= record["ttft_ms"]
        if request.prompt_tokens is not None:  # what the client saw is what was recorded
            assert record["prompt_tokens"] == request.prompt_tokens
            assert record["completion_tokens"] == request.completion_tokens
