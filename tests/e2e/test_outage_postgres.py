"""PostgreSQL frozen or killed: every request answers 503 JSON with Retry-After within a bound
(none hangs for the whole outage, none is a plain-text 500), /readyz says not ready at once, and
the stack serves again when the database is back."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cortex_devstack.embedded import EmbeddedPostgres
from cortex_devstack.ports import free_port
from tests.support.backends import Backends, server_dir
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

DATABASE_SERVICES = ("gateway", "sessions", "usage")


@pytest.fixture(scope="module")
def postgres() -> Iterator[EmbeddedPostgres]:
    with server_dir() as work:
        server = EmbeddedPostgres(work / "postgres", free_port())
        server.start(log_file=work / "postgres.log")
        server.create_database("cortex")
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def pg_stack(
    backends: Backends, postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = base_env(backends.nats_url, postgres.url("cortex"))
    with running_stack(env, Path(tmp_path_factory.mktemp("pg-stack"))) as stack:
        yield stack


async def assert_answers_unavailable(client: httpx.AsyncClient) -> None:
    """A read of the account, a chat write and a completion that need PostgreSQL only for the
    credential check: all refused in time, with the outage answer."""
    assert_unavailable(await client.get("/auth/me"))
    assert_unavailable(await client.post("/v1/chat/sessions", json={"model_name": MODEL}))
    completion = await client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert completion.status_code == 503, completion.text
    assert completion.json()["error"]["code"] == "service_unavailable"  # OpenAI-shaped there
    assert int(completion.headers["Retry-After"]) >= 1


async def assert_serves_again(stack: Stack, client: httpx.AsyncClient) -> None:
    back = await eventually(lambda: client.get("/auth/me"), 200)
    assert back.status_code == 200, back.text
    created = await eventually(
        lambda: client.post("/v1/chat/sessions", json={"model_name": MODEL}), 201
    )
    assert created.status_code == 201, created.text
    await assert_ready_again(stack, *DATABASE_SERVICES)


async def test_frozen_database_gets_503_in_time_and_not_ready_at_once(
    pg_stack: Stack, postgres: EmbeddedPostgres
) -> None:
    client = await user_client(pg_stack)
    assert postgres.process is not None
    try:
        with frozen(postgres.process):
            for ready in (await readyz_of(pg_stack, *DATABASE_SERVICES)).values():
                assert_not_ready(ready, "database")
            await assert_answers_unavailable(client)
            await assert_answers_unavailable(client)  # the pool has no stuck connection left
        await assert_serves_again(pg_stack, client)
    finally:
        await client.aclose()


async def test_killed_database_gets_503_json_and_the_stack_recovers_on_restart(
    pg_stack: Stack, postgres: EmbeddedPostgres
) -> None:
    client = await user_client(pg_stack)
    assert postgres.process is not None
    try:
        kill(postgres.process)
        await assert_answers_unavailable(client)
        for ready in (await readyz_of(pg_stack, *DATABASE_SERVICES)).values():
            assert_not_ready(ready, "database")
        postgres.start(log_file=postgres.data_dir.parent / "postgres.log")
        await assert_serves_again(pg_stack, client)
    finally:
        await client.aclose()
