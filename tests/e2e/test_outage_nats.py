"""NATS frozen or killed: chat writes and reads answer 503 JSON with Retry-After within a bound
(never a 500, never a hang), /readyz of every service says not ready, what needs only PostgreSQL
keeps working, and the stack serves again when NATS is back."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cortex_devstack.embedded import EmbeddedNats
from cortex_devstack.ports import free_port
from tests.support.backends import Backends, fresh_database
from tests.support.chat import MODEL
from tests.support.outage import (
    assert_not_ready,
    assert_ready_again,
    assert_unavailable,
    eventually,
    frozen,
    kill,
    readyz_of,
    user_client,
)
from tests.support.stack import Stack, base_env, running_stack

pytestmark = pytest.mark.e2e

NATS_SERVICES = ("gateway", "sessions", "usage", "health")


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    work = tmp_path_factory.mktemp("own-nats")
    server = EmbeddedNats(work / "nats", free_port())
    server.start(log_file=work / "nats.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def nats_stack(
    backends: Backends, nats_server: EmbeddedNats, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with fresh_database(backends.postgres_url) as database_url:
        env = base_env(nats_server.url, database_url)
        with running_stack(env, Path(tmp_path_factory.mktemp("nats-stack"))) as stack:
            yield stack


async def assert_answers_unavailable(client: httpx.AsyncClient, chat_id: str) -> None:
    assert_unavailable(await client.post("/v1/chat/sessions", json={"model_name": MODEL}))
    assert_unavailable(await client.get("/v1/chat/sessions"))
    assert_unavailable(
        await client.post(
            f"/v1/chat/sessions/{chat_id}/messages", json={"role": "user", "content": "hello?"}
        )
    )
    # The account lives in PostgreSQL: still there.
    assert (await client.get("/auth/me")).status_code == 200


async def assert_serves_again(stack: Stack, client: httpx.AsyncClient) -> None:
    created = await eventually(
        lambda: client.post("/v1/chat/sessions", json={"model_name": MODEL}), 201
    )
    assert created.status_code == 201, created.text
    await assert_ready_again(stack, *NATS_SERVICES)


async def new_chat(client: httpx.AsyncClient) -> str:
    created = await client.post("/v1/chat/sessions", json={"model_name": MODEL})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_frozen_nats_gets_503_in_time_and_every_service_not_ready(
    nats_stack: Stack, nats_server: EmbeddedNats
) -> None:
    client = await user_client(nats_stack)
    chat_id = await new_chat(client)
    assert nats_server.process is not None
    try:
        with frozen(nats_server.process):
            for ready in (await readyz_of(nats_stack, *NATS_SERVICES)).values():
                assert_not_ready(ready, "nats")
            await assert_answers_unavailable(client, chat_id)
        await assert_serves_again(nats_stack, client)
    finally:
        await client.aclose()


async def test_killed_nats_gets_503_json_and_the_stack_recovers_on_restart(
    nats_stack: Stack, nats_server: EmbeddedNats
) -> None:
    client = await user_client(nats_stack)
    chat_id = await new_chat(client)
    assert nats_server.process is not None
    try:
        kill(nats_server.process)
        await assert_answers_unavailable(client, chat_id)
        for ready in (await readyz_of(nats_stack, *NATS_SERVICES)).values():
            assert_not_ready(ready, "nats")
        nats_server.start(log_file=nats_server.data_dir.parent / "nats.log")
        await assert_serves_again(nats_stack, client)
    finally:
        await client.aclose()
