"""Shared fixtures: real backends, a migrated fresh database, the stack of real processes."""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.backends import Backends, fresh_database, server_dir, start_backends
from tests.support.clients import login
from tests.support.stack import Stack, base_env, migrate


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    with server_dir() as folder, start_backends(folder) as found:
        yield found


@pytest.fixture(scope="session")
def database_url(backends: Backends) -> Iterator[str]:
    with fresh_database(backends.postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def stack_env(backends: Backends, database_url: str) -> dict[str, str]:
    env = base_env(backends.nats_url, database_url)
    migrate(env)
    return env


@pytest.fixture(scope="session")
def stack(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(env=dict(stack_env), work_dir=Path(tmp_path_factory.mktemp("stack")))
    try:
        yield running.start()
    finally:
        running.stop()


LoginAs = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def login_as(stack: Stack) -> AsyncIterator[LoginAs]:
    """`await login_as()` logs in a new user; `await login_as("admin")` the admin."""
    clients: list[httpx.AsyncClient] = []

    async def _login(username: str | None = None, role: str = "user") -> httpx.AsyncClient:
        if username == "admin":
            client = await login(stack.gateway_url, "admin", stack.admin_password)
        else:
            name, password = stack.create_user(username, role=role)
            client = await login(stack.gateway_url, name, password)
        clients.append(client)
        return client

    yield _login
    for client in clients:
        await client.aclose()
