"""`cortex-sessions rebuild` replays the stream into fresh tables and swaps them in."""

import asyncio
import itertools

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.chat import (
    OTHER_MODEL,
    add_message,
    create_session,
    get_when_ready,
    snapshot,
)
from tests.support.processes import run_command
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def caught_up(client_session_pairs: list[tuple[httpx.AsyncClient, str]]) -> None:
    """Reads that wait for the projection: afterwards every write so far is in the tables."""
    for client, session_id in client_session_pairs:
        response = await get_when_ready(client, f"/v1/chat/sessions/{session_id}")
        assert response.status_code in (200, 404), response.text


async def rebuild(stack: Stack) -> str:
    result = await asyncio.to_thread(run_command, "sessions", "rebuild", stack.env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def test_rebuild_produces_the_tables_the_live_projection_wrote(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    touched = []
    for n in range(4):
        session_id = await create_session(client)
        touched.append((client, session_id))
        for turn in range(3):
            await add_message(client, session_id, f"chat {n} question {turn}")
            await add_message(
                client, session_id, f"answer {turn}", role="assistant", metrics_json={"n": turn}
            )
    switched = await create_session(client, title="switched before use")
    await add_message(client, switched, "hello", model_name=OTHER_MODEL)
    deleted = await create_session(client)
    await add_message(client, deleted, "soon gone")
    assert (await client.delete(f"/v1/chat/sessions/{deleted}")).status_code == 204
    touched += [(client, switched), (client, deleted)]
    await caught_up(touched)
    live = snapshot(stack)

    output = await rebuild(stack)

    assert "tables swapped in" in output
    rebuilt = snapshot(stack)
    assert rebuilt.keys() == live.keys()
    for table in live:
        assert rebuilt[table] == live[table], table
    # This test's own rows (the stack is shared with other tests): 4 chats of 3 turns (24
    # messages) and one "hello"; the deleted chat's message went with its chat.
    ours = [row for row in live["chat_messages"] if str(row[1]) in {s for _, s in touched}]
    assert len(ours) == 25
    assert all(str(row[1]) != deleted for row in ours)


async def test_the_service_keeps_answering_and_writing_during_a_rebuild(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    session_ids = [await create_session(client) for _ in range(3)]
    sent: dict[str, list[str]] = {session_id: [] for session_id in session_ids}
    rebuilding = asyncio.Event()
    done = asyncio.Event()
    writes: list[int] = []
    reads: list[int] = []

    async def write() -> None:
        for n in itertools.count():
            session_id = session_ids[n % len(session_ids)]
            response = await client.post(
                f"/v1/chat/sessions/{session_id}/messages",
                json={"role": "user", "content": f"message {n}"},
            )
            writes.append(response.status_code)
            if response.status_code == 201:
                sent[session_id].append(f"message {n}")
            if done.is_set() and n > 50:
                return
            if n == 20:
                rebuilding.set()

    async def read() -> None:
        while not done.is_set():
            listed = await client.get("/v1/chat/sessions")
            reads.append(listed.status_code)
            await asyncio.sleep(0.01)

    async def run_rebuild() -> None:
        await rebuilding.wait()
        await rebuild(stack)
        done.set()

    await asyncio.gather(write(), read(), run_rebuild())

    assert set(writes) == {201}, writes  # writes go to the stream: a rebuild cannot stop them
    assert len(writes) > 50
    assert set(reads) <= {200, 503}, reads  # 503 = "retry": the documented bounded wait
    assert reads.count(200) > 0
    for session_id in session_ids:
        fetched = (await get_when_ready(client, f"/v1/chat/sessions/{session_id}")).json()
        assert [m["content"] for m in fetched["messages"]] == sent[session_id]
        assert fetched["message_count"] == len(sent[session_id])
    live = snapshot(stack)
    await rebuild(stack)
    assert snapshot(stack) == live
