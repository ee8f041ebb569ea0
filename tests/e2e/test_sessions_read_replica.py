"""Lists and gets from a read replica (CORTEX_SESSIONS_DATABASE_READ_URL) keep read-your-writes.

What this shows on the real stack: with the read URL set, the replica path is taken (the
sessions service counts who answered) and a user's new chat and message are in the list and the
chat right after the write; with a "replica" that never receives the rows (a second database on
the same server, standing for one that lags forever) a get still shows the user's write: the
replica's row is short of it, so the primary answers. The WAL-position wait of a list is not
shown here (a second database on the same server shares the primary's WAL, so it always looks
caught up): tests/e2e/test_sessions_standby.py shows it against a real streaming standby whose
replay is paused, and tests/unit/test_sessions_replica_lag.py its bound with a fake clock."""

import asyncio
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import httpx
import pytest

from tests.support.backends import Backends, fresh_database
from tests.support.chat import add_message, create_session, get_when_ready
from tests.support.clients import login
from tests.support.partitions import wait_for_shares
from tests.support.processes import run_command
from tests.support.stack import Stack, base_env, running_stack
from tests.support.standby import answered_by

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replica_stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose sessions service reads from a "replica" URL: the primary itself."""
    with fresh_database(backends.postgres_url) as url:
        env = {**base_env(backends.nats_url, url), "CORTEX_SESSIONS_DATABASE_READ_URL": url}
        with running_stack(env, Path(tmp_path_factory.mktemp("replica-stack"))) as stack:
            yield stack


async def write_and_read(stack: Stack, check_list: bool) -> tuple[str, httpx.Response]:
    name, password = stack.create_user()
    async with aclosing(await login(stack.gateway_url, name, password)) as client:
        session_id = await create_session(client)
        await add_message(client, session_id, "written just now")
        if check_list:
            listed = await get_when_ready(client, "/v1/chat/sessions")
            assert listed.status_code == 200, listed.text
            assert session_id in [s["id"] for s in listed.json()["sessions"]]
        return session_id, await get_when_ready(client, f"/v1/chat/sessions/{session_id}")


async def test_reads_go_to_the_replica_and_show_the_users_last_write(replica_stack: Stack) -> None:
    _, fetched = await write_and_read(replica_stack, check_list=True)

    assert fetched.status_code == 200, fetched.text
    assert [m["content"] for m in fetched.json()["messages"]] == ["written just now"]
    counts = answered_by(replica_stack.processes["sessions"])
    assert counts.get("replica", 0) >= 2, counts  # the list and the get
    assert counts.get("primary", 0) == 0, counts  # the same server is never behind itself


async def test_a_get_from_a_replica_without_the_write_is_answered_by_the_primary(
    replica_stack: Stack, backends: Backends
) -> None:
    with fresh_database(backends.postgres_url) as behind:
        migrated = run_command("sessions", "migrate", {"CORTEX_DATABASE_URL": behind})
        assert migrated.returncode == 0, migrated.stderr
        await asyncio.to_thread(replica_stack.processes["sessions"].stop)
        lagging = await asyncio.to_thread(
            replica_stack.start_extra, "sessions", CORTEX_SESSIONS_DATABASE_READ_URL=behind
        )
        try:
            await wait_for_shares(replica_stack, [lagging])
            _, fetched = await write_and_read(replica_stack, check_list=False)

            assert fetched.status_code == 200, fetched.text
            assert [m["content"] for m in fetched.json()["messages"]] == ["written just now"]
            assert answered_by(lagging).get("primary", 0) >= 1
        finally:
            await asyncio.to_thread(lagging.stop)
