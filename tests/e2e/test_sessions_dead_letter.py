"""Events the projection cannot apply go to the dead-letter subject and stall nothing."""

import asyncio
import uuid

import pytest
from nats.js.errors import NotFoundError

from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import MessageAdded
from tests.conftest import LoginAs
from tests.support.chat import (
    add_message,
    create_session,
    get_when_ready,
    nats_of,
    topology_of,
    user_id_of,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def dead_letters(stack: Stack, count: int) -> list[dict[str, str]]:
    """Headers of the first `count` dead letters of the sessions projection (waits for them)."""
    topology = topology_of(stack)
    subject = topology.dead_letter_subject(topology.sessions_consumer)
    found: list[dict[str, str]] = []
    async with nats_of(stack) as client:
        js = client.jetstream()
        for _ in range(300):
            found, seq = [], 1
            while True:
                try:
                    message = await js.get_msg(
                        topology.dead_letter_stream, seq=seq, subject=subject, next=True
                    )
                except NotFoundError:
                    break
                found.append(dict(message.headers or {}))
                seq = int(message.seq or 0) + 1
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)
    return found


async def test_malformed_events_are_dead_lettered_and_the_chat_keeps_working(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    user_id = await user_id_of(client)
    poisoned = await create_session(client)
    await add_message(client, poisoned, "before the poison")
    topology = topology_of(stack)
    subject = topology.chat_subject(user_id, poisoned)
    before = len(await dead_letters(stack, 0))
    async with nats_of(stack) as nats_client:
        js = nats_client.jetstream()
        garbage = await js.publish(subject, b"{not json at all")
        forged = MessageAdded(  # valid JSON, but it names another session as its own
            aggregate_id=str(uuid.uuid4()),
            actor=Actor(user_id=user_id),
            previous_seq=garbage.seq,
            role="user",
            content="forged",
            model_name="sim-vllm-small",
        )
        forgery = await js.publish(subject, forged.to_bytes())
        stray = await js.publish(f"{topology.prefix}.chat.nobody.not-a-session", b"{}")

    # Other chats are not held up, and neither is the poisoned one.
    healthy = await create_session(client)
    await add_message(client, healthy, "after the poison")
    after = await add_message(client, poisoned, "after the poison")
    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{poisoned}")).json()
    assert [m["content"] for m in fetched["messages"]] == ["before the poison", "after the poison"]
    assert fetched["messages"][-1] == after
    healthy_view = (await get_when_ready(client, f"/v1/chat/sessions/{healthy}")).json()
    assert [m["content"] for m in healthy_view["messages"]] == ["after the poison"]
    listed = (await get_when_ready(client, "/v1/chat/sessions")).json()["sessions"]
    assert {s["id"] for s in listed} == {poisoned, healthy}

    letters = (await dead_letters(stack, before + 3))[before:]
    by_seq = {int(letter["Cortex-Stream-Seq"]): letter for letter in letters}
    assert set(by_seq) == {garbage.seq, forgery.seq, stray.seq}
    assert "not a chat event" in by_seq[garbage.seq]["Cortex-Reason"]
    assert "aggregate_id" in by_seq[forgery.seq]["Cortex-Reason"]
    assert by_seq[stray.seq]["Cortex-Subject"] == f"{topology.prefix}.chat.nobody.not-a-session"
    async with nats_of(stack) as nats_client:  # the newest event of the chat is unreadable now
        last_garbage = await nats_client.jetstream().publish(subject, b"\xff\xfe")
    await add_message(client, poisoned, "after the last poison")
    fetched = (await get_when_ready(client, f"/v1/chat/sessions/{poisoned}")).json()
    assert [m["content"] for m in fetched["messages"]][-1] == "after the last poison"
    assert fetched["message_count"] == 3
    assert int((await dead_letters(stack, before + 4))[-1]["Cortex-Stream-Seq"]) == last_garbage.seq
    logs = "".join(p.log_path.read_text() for p in [stack.processes["sessions"], *stack.extras])
    assert f"dead-lettering chat event seq={garbage.seq} subject={subject}" in logs
