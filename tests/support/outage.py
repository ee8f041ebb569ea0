"""Outages on demand: a stack with a NATS or PostgreSQL of its own, which a test may freeze
(SIGSTOP, as a stalled machine or a network cut looks to its clients) or kill (SIGKILL).

The shared session backends are never touched: other tests keep running against them.
"""

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import psutil

from tests.support.clients import login
from tests.support.stack import Stack

# Longer than any bounded answer may take (the gateway's database and NATS bounds are 2 s and
# 3 s; a request may meet two of them): a request still open after this hangs on the outage.
ANSWER_BOUND_SEC = 8.0
RECOVERY_SEC = 60.0


# A server started here (Popen) or found running (psutil.Process: the chaos suite's, under the
# dev supervisor).
Server = subprocess.Popen[bytes] | psutil.Process


def server_processes(process: Server) -> list[psutil.Process]:
    """The server and its children (PostgreSQL runs one process per connection)."""
    root = psutil.Process(process.pid)
    return [root, *root.children(recursive=True)]


def signal_all(processes: list[psutil.Process], sig: signal.Signals) -> None:
    for each in processes:
        with suppress(psutil.NoSuchProcess):  # a child that just ended
            each.send_signal(sig)


@contextmanager
def frozen(process: Server) -> Iterator[None]:
    psutil.Process(process.pid).send_signal(signal.SIGSTOP)  # first: it forks no more children
    stopped = server_processes(process)
    signal_all(stopped, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_all(stopped, signal.SIGCONT)


def kill(process: Server) -> None:
    """The server and all its children, as a crash of the machine would: stopped first, so that
    no new child (a PostgreSQL backend for a client reconnecting) escapes and keeps the old
    server's shared memory, which would stop a restart."""
    psutil.Process(process.pid).send_signal(signal.SIGSTOP)
    signal_all(server_processes(process), signal.SIGKILL)
    process.wait(timeout=30)


def assert_unavailable(response: httpx.Response) -> None:
    """The outage answer: 503, JSON that says so, and when to try again."""
    assert response.status_code == 503, f"{response.request.url}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert isinstance(response.json()["detail"], str), response.text
    assert int(response.headers["Retry-After"]) >= 1


def assert_not_ready(response: httpx.Response, check: str) -> None:
    assert response.status_code == 503, f"{response.request.url}: {response.text}"
    assert response.json()["checks"][check] is False, response.text


async def readyz_of(stack: Stack, *services: str) -> dict[str, httpx.Response]:
    """/readyz of each service at once, each given ANSWER_BOUND_SEC."""
    async with httpx.AsyncClient(timeout=ANSWER_BOUND_SEC) as client:
        answers = await asyncio.gather(
            *(client.get(f"{stack.processes[name].url}/readyz") for name in services)
        )
    return dict(zip(services, answers, strict=True))


async def eventually(call: Any, status: int) -> httpx.Response:
    """Repeat `await call()` until it answers `status` (the stack recovering from an outage)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECOVERY_SEC
    while True:
        try:
            response: httpx.Response = await call()
            if response.status_code == status or loop.time() > deadline:
                return response
        except httpx.TimeoutException:
            if loop.time() > deadline:
                raise
        await asyncio.sleep(0.3)


async def assert_ready_again(stack: Stack, *services: str) -> None:
    """Each service's /readyz comes back to 200 (its connections recover at their own pace)."""
    async with httpx.AsyncClient(timeout=ANSWER_BOUND_SEC) as client:
        for name in services:
            url = f"{stack.processes[name].url}/readyz"
            ready = await eventually(lambda url=url: client.get(url), 200)
            assert ready.status_code == 200, f"{name}: {ready.text}"


async def user_client(stack: Stack) -> httpx.AsyncClient:
    """A new user's client that waits ANSWER_BOUND_SEC at most for each answer."""
    username, password = stack.create_user()
    client = await login(stack.gateway_url, username, password)
    client.timeout = httpx.Timeout(ANSWER_BOUND_SEC)
    return client
