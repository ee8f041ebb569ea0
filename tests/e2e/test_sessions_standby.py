"""Reads from a real, lagging streaming standby keep read-your-writes (docs/scaling.md).

The sessions service reads from a PostgreSQL hot standby that replays the primary's WAL
(CORTEX_SESSIONS_DATABASE_READ_URL), as a CloudNativePG replica would. What this shows on the
real stack:

- While replay runs, a user's new chat and message are in their list and in the chat right
  after the write, and the standby answered both (the list's wait for the primary's WAL
  position ends at once: a healthy standby is milliseconds behind).
- With replay paused on the standby (a replica that lags), the user still sees their write in
  the list and in the chat: the list's WAL-position wait gives up within its bound and the
  primary answers; the get finds the standby's row missing and asks the primary. The standby
  really lacks the row.
- Once replay resumes, the standby catches up (the row written during the pause arrives) and
  answers the next list and get again.
- The comparisons list follows the same rule: from the standby, or from the primary while the
  standby lacks the user's new comparison.

Who answered is read from cortex_sessions_replica_reads_total. Lag is made by pausing WAL
replay, not by timing, and nothing here asserts a duration; the wait's bound is set to 5 s so
that a busy machine cannot push a healthy standby past it.
"""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.backends import Backends
from tests.support.chat import MODEL, OTHER_MODEL, add_message, create_session, get_when_ready
from tests.support.clients import login
from tests.support.stack import Stack, base_env, running_stack
from tests.support.standby import StreamingPair, answered_by, streaming_pair

pytestmark = pytest.mark.e2e

MESSAGE = "written just now"
LAG_WAIT_SEC = 5


@dataclass(frozen=True)
class StandbyStack:
    pair: StreamingPair
    stack: Stack
    database: str

    def on_standby(self, session_id: str) -> bool:
        rows = self.pair.standby_rows(
            self.database, "SELECT 1 FROM chat_sessions WHERE id = %s", uuid.UUID(session_id)
        )
        return bool(rows)

    def answered_by(self) -> dict[str, float]:
        return answered_by(self.stack.processes["sessions"])


@pytest.fixture(scope="module")
def standby_stack(
    backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StandbyStack]:
    """The stack on a primary of its own; its sessions service reads from that primary's
    standby. Only PostgreSQL is the test's own: NATS is the session's."""
    with streaming_pair() as pair:
        database = f"cortex_test_{uuid.uuid4().hex[:12]}"
        pair.create_database(database)  # after the standby runs: it replicates there too
        assert pair.standby_rows(database, "SELECT pg_is_in_recovery()") == [(True,)]
        env = {
            **base_env(backends.nats_url, pair.primary.url(database)),
            "CORTEX_SESSIONS_DATABASE_READ_URL": pair.standby.url(database),
            # Longer than the default 0.5 s: a healthy standby must not fall outside the
            # wait because the test machine is busy (the bound's rule has a unit test).
            "CORTEX_SESSIONS_REPLICA_LAG_WAIT_SEC": str(LAG_WAIT_SEC),
        }
        with running_stack(env, Path(tmp_path_factory.mktemp("standby-stack"))) as stack:
            yield StandbyStack(pair=pair, stack=stack, database=database)


def rise(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {database: after.get(database, 0) - before.get(database, 0) for database in after}


@dataclass(frozen=True)
class Seen:
    """A user's new chat and what they saw right after writing it, and who answered."""

    session_id: str
    listed: list[str]
    messages: list[str]
    list_answered_by: dict[str, float]
    get_answered_by: dict[str, float]


async def write_then_read(standby_stack: StandbyStack) -> Seen:
    stack = standby_stack.stack
    name, password = stack.create_user()
    async with aclosing(await login(stack.gateway_url, name, password)) as client:
        session_id = await create_session(client)
        await add_message(client, session_id, MESSAGE)
        before_list = standby_stack.answered_by()
        listed = await get_when_ready(client, "/v1/chat/sessions")
        before_get = standby_stack.answered_by()
        fetched = await get_when_ready(client, f"/v1/chat/sessions/{session_id}")
        after_get = standby_stack.answered_by()
    assert listed.status_code == 200, listed.text
    assert fetched.status_code == 200, fetched.text
    return Seen(
        session_id=session_id,
        listed=[session["id"] for session in listed.json()["sessions"]],
        messages=[message["content"] for message in fetched.json()["messages"]],
        list_answered_by=rise(before_list, before_get),
        get_answered_by=rise(before_get, after_get),
    )


def the_standby_answered_with_the_write(standby_stack: StandbyStack, seen: Seen) -> None:
    assert seen.session_id in seen.listed
    assert seen.messages == [MESSAGE]
    assert seen.list_answered_by.get("replica", 0) >= 1, seen.list_answered_by
    assert seen.get_answered_by.get("replica", 0) >= 1, seen.get_answered_by
    assert standby_stack.on_standby(seen.session_id)


async def test_with_replay_running_the_standby_answers_with_the_users_write(
    standby_stack: StandbyStack,
) -> None:
    seen = await write_then_read(standby_stack)

    the_standby_answered_with_the_write(standby_stack, seen)


async def test_with_replay_paused_the_primary_answers_and_the_user_still_sees_the_write(
    standby_stack: StandbyStack,
) -> None:
    with standby_stack.pair.replay_paused():
        seen = await write_then_read(standby_stack)
        lacks_the_row = not standby_stack.on_standby(seen.session_id)

    assert seen.session_id in seen.listed  # read-your-writes held...
    assert seen.messages == [MESSAGE]
    assert lacks_the_row  # ...though the standby could not have shown it
    # the list's wait for the standby ran out and the get found the standby's row missing
    assert seen.list_answered_by.get("primary", 0) >= 1, seen.list_answered_by
    assert seen.get_answered_by.get("primary", 0) >= 1, seen.get_answered_by
    assert seen.list_answered_by.get("replica", 0) == 0, seen.list_answered_by
    assert seen.get_answered_by.get("replica", 0) == 0, seen.get_answered_by


async def test_once_replay_resumes_the_standby_catches_up_and_answers_again(
    standby_stack: StandbyStack,
) -> None:
    pair = standby_stack.pair
    with pair.replay_paused():
        written_while_paused = await write_then_read(standby_stack)
    await asyncio.to_thread(pair.wait_until_replayed)
    assert standby_stack.on_standby(written_while_paused.session_id)

    seen = await write_then_read(standby_stack)

    the_standby_answered_with_the_write(standby_stack, seen)


async def create_comparison(client: httpx.AsyncClient) -> str:
    body = {"panes": [{"model_name": MODEL}, {"model_name": OTHER_MODEL}]}
    created = await client.post("/v1/comparisons", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_comparisons_come_from_the_standby_or_while_it_lags_from_the_primary(
    standby_stack: StandbyStack,
) -> None:
    stack, pair = standby_stack.stack, standby_stack.pair
    name, password = stack.create_user()
    async with aclosing(await login(stack.gateway_url, name, password)) as client:
        with pair.replay_paused():
            before = standby_stack.answered_by()
            made_while_paused = await create_comparison(client)
            listed_while_paused = await get_when_ready(client, "/v1/comparisons")
            while_paused = rise(before, standby_stack.answered_by())
        await asyncio.to_thread(pair.wait_until_replayed)
        before = standby_stack.answered_by()
        made_after = await create_comparison(client)
        listed_after = await get_when_ready(client, "/v1/comparisons")
        after = rise(before, standby_stack.answered_by())

    def ids(listed: httpx.Response) -> set[str]:
        assert listed.status_code == 200, listed.text
        return {c["id"] for c in listed.json()["comparisons"]}

    assert made_while_paused in ids(listed_while_paused)  # read-your-writes held...
    assert while_paused.get("primary", 0) >= 1, while_paused  # ...by the primary
    assert while_paused.get("replica", 0) == 0, while_paused
    assert {made_while_paused, made_after} <= ids(listed_after)
    assert after.get("replica", 0) >= 1, after
