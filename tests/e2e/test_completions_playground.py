"""The playground path through real processes: a completion tied to a chat session records the
user's turn before streaming and the answer when the stream ends, however it ends (complete,
stopped, abandoned by a closed tab, cut by the model server), with the server's metrics."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import LoginAs
from tests.support.clients import login
from tests.support.completions import (
    PrivateModels,
    chat_body,
    eventually,
    new_session,
    private_models,
    read_sse,
    recorded_answer,
    session_messages,
    unique,
    usage_event,
    wait_running,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

VLLM, LLAMACPP = "sim-vllm-small", "sim-llamacpp-large"
LONG = 5000
METRICS = {"X-Cortex-Metrics": "true"}


@dataclass
class Faulty:
    models: PrivateModels
    drop: str
    slow: str


@pytest.fixture(scope="module")
async def faulty(stack: Stack) -> AsyncIterator[Faulty]:
    admin = await login(stack.gateway_url, "admin", stack.admin_password)
    drop, slow = unique("pg-drop"), unique("pg-slow")
    specs = [
        {"name": drop, "personality": "vllm", "ttft_ms": 5, "itl_ms": 2, "output_tokens": 40},
        {"name": slow, "personality": "llamacpp", "ttft_ms": 5, "itl_ms": 10,
         "output_tokens": LONG, "max_context": 65536},
    ]  # fmt: skip
    try:
        async with private_models(stack, admin, specs) as private:
            yield Faulty(private, drop, slow)
    finally:
        await admin.aclose()


@pytest.fixture
async def user(login_as: LoginAs) -> httpx.AsyncClient:
    client = await login_as()
    await wait_running(client, {VLLM, LLAMACPP})
    return client


async def send(
    client: httpx.AsyncClient,
    session_id: str,
    messages: list[dict[str, str]],
    model: str = VLLM,
    **headers: str,
) -> tuple[httpx.Response, Any]:
    async with client.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": model, "messages": messages, "stream": True},
        headers={"X-Chat-Session-Id": session_id, **METRICS, **headers},
    ) as response:
        if response.status_code != 200:
            await response.aread()
            return response, None
        return response, await read_sse(response)


def says(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


async def test_a_turn_is_recorded_with_the_servers_metrics(
    stack: Stack, user: httpx.AsyncClient
) -> None:
    session_id = await new_session(user, VLLM)

    response, stream = await send(user, session_id, says("echo: Hello there, model"))
    answer = await recorded_answer(user, session_id)

    assert response.status_code == 200
    messages = await session_messages(user, session_id)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "echo: Hello there, model"),
        ("assistant", "Hello there, model"),
    ]
    assert answer["metrics_json"] == stream.metrics  # the UI's copy and the stored one agree
    assert answer["metrics_json"]["status"] == "complete"
    assert answer["metrics_json"]["completion_tokens"] == 4
    event = await usage_event(stack, VLLM, response.headers["x-cortex-completion-id"])
    assert event.source == "playground"
    assert event.chat_session_id == session_id
    assert event.api_key_id is None


async def test_the_users_turn_is_recorded_before_streaming(
    user: httpx.AsyncClient, faulty: Faulty
) -> None:
    session_id = await new_session(user, faulty.slow)
    async with user.stream(
        "POST",
        "/v1/chat/completions",
        json=chat_body(faulty.slow, "A long question", stream=True),
        headers={"X-Chat-Session-Id": session_id},
    ) as response:
        lines = response.aiter_lines()  # kept: a dropped iterator would close the stream
        async for line in lines:
            if line.startswith("data:"):
                break  # the answer has begun
        during = await session_messages(user, session_id)
    assert [(m["role"], m["content"]) for m in during] == [("user", "A long question")]


async def test_model_lock_refuses_another_model_once_the_chat_has_messages(
    user: httpx.AsyncClient,
) -> None:
    session_id = await new_session(user, VLLM)
    await send(user, session_id, says("first"))
    await recorded_answer(user, session_id)

    response, _ = await send(user, session_id, says("second"), model=LLAMACPP)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "model_locked"
    assert error["message"] == (
        f"This chat is locked to model {VLLM}. Start a new chat to use {LLAMACPP}."
    )
    assert len(await session_messages(user, session_id)) == 2  # nothing recorded


async def test_an_empty_chat_follows_the_model_of_its_first_completion(
    user: httpx.AsyncClient,
) -> None:
    session_id = await new_session(user, VLLM)

    response, _ = await send(user, session_id, says("echo: ok"), model=LLAMACPP)
    await recorded_answer(user, session_id)

    assert response.status_code == 200
    session = (await user.get(f"/v1/chat/sessions/{session_id}")).json()
    assert session["model_name"] == LLAMACPP
    assert session["engine_type"] == "llamacpp"


async def test_someone_elses_chat_is_not_found(user: httpx.AsyncClient, login_as: LoginAs) -> None:
    session_id = await new_session(user, VLLM)
    other = await login_as()

    response, _ = await send(other, session_id, says("hi"))
    malformed, _ = await send(other, "not-a-session", says("hi"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "session_not_found"
    assert malformed.status_code == 404
    assert await session_messages(user, session_id) == []


async def test_regenerate_does_not_record_the_users_turn_again(
    user: httpx.AsyncClient,
) -> None:
    session_id = await new_session(user, VLLM)
    await send(user, session_id, says("echo: one"))
    await recorded_answer(user, session_id)

    await send(user, session_id, says("echo: one"), **{"X-Chat-Regenerate": "true"})

    async def two_answers() -> list[dict[str, Any]] | None:
        messages = await session_messages(user, session_id)
        return messages if len(messages) == 3 else None

    messages = await eventually(two_answers, "the regenerated answer recorded")
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant"]


async def test_an_answer_cut_by_the_model_server_is_recorded_as_such(
    user: httpx.AsyncClient, faulty: Faulty
) -> None:
    await faulty.models.control(faulty.drop, drop_after_tokens=4)
    try:
        session_id = await new_session(user, faulty.drop)
        response, stream = await send(user, session_id, says("echo: w x y z a b"), faulty.drop)
        assert response.status_code == 200
        answer = await recorded_answer(user, session_id)
    finally:
        await faulty.models.reset(faulty.drop)

    assert stream.names[-3:] == ["error", "cortex.metrics", "[DONE]"]
    assert answer["content"] == "w x y z"  # the text produced before the cut is kept
    assert answer["metrics_json"]["status"] == "error"
    assert answer["metrics_json"]["error"]
    assert answer["metrics_json"] == stream.metrics


async def test_closing_the_tab_mid_answer_keeps_the_text_so_far(
    stack: Stack, user: httpx.AsyncClient, faulty: Faulty
) -> None:
    session_id = await new_session(user, faulty.slow)
    seen = ""
    async with user.stream(
        "POST",
        "/v1/chat/completions",
        json=chat_body(faulty.slow, "Write a lot", stream=True),
        headers={"X-Chat-Session-Id": session_id, **METRICS},
    ) as response:
        completion_id = response.headers["x-cortex-completion-id"]
        async for line in response.aiter_lines():
            if '"content":"' in line:
                seen += line
            if seen.count('"content":"') == 10:
                break  # the tab closes: the connection goes

    answer = await recorded_answer(user, session_id)  # what a reload shows

    assert answer["metrics_json"]["status"] == "abandoned"
    assert len(answer["content"]) > 0
    assert 10 <= answer["metrics_json"]["completion_tokens"] < LONG
    event = await usage_event(stack, faulty.slow, completion_id)
    assert event.status == "abandoned"

    async def upstream_cancelled() -> bool:
        state = await faulty.models.state(faulty.slow)
        return state["active_streams"] == 0 and state["cancelled_streams"] >= 1

    await eventually(upstream_cancelled, "the engine stopped generating")


async def test_stop_ends_the_stream_cleanly_and_keeps_the_text(
    user: httpx.AsyncClient, faulty: Faulty, login_as: LoginAs
) -> None:
    session_id = await new_session(user, faulty.slow)
    before = (await faulty.models.state(faulty.slow))["cancelled_streams"]
    async with user.stream(
        "POST",
        "/v1/chat/completions",
        json=chat_body(faulty.slow, "Write a lot", stream=True),
        headers={"X-Chat-Session-Id": session_id, **METRICS},
    ) as response:
        completion_id = response.headers["x-cortex-completion-id"]
        lines = response.aiter_lines()
        async for line in lines:
            if line.startswith("data:"):
                break
        other = await login_as()
        not_theirs = await other.post(f"/v1/chat/completions/{completion_id}/stop")
        stopped = await user.post(f"/v1/chat/completions/{completion_id}/stop")
        rest = "\n".join([line async for line in lines])

    assert not_theirs.status_code == 404
    assert stopped.status_code == 204
    assert "event: cortex.metrics" in rest and rest.rstrip().endswith("data: [DONE]")
    answer = await recorded_answer(user, session_id)
    assert answer["metrics_json"]["status"] == "stopped"
    assert answer["content"]  # what was generated is kept, not replaced
    assert answer["metrics_json"]["completion_tokens"] < LONG
    state = await faulty.models.state(faulty.slow)
    assert state["cancelled_streams"] == before + 1
    gone = await user.post(f"/v1/chat/completions/{completion_id}/stop")
    assert gone.status_code == 404  # it is over


async def test_a_failure_before_streaming_is_recorded_after_the_users_turn(
    user: httpx.AsyncClient, faulty: Faulty
) -> None:
    await faulty.models.control(faulty.drop, fail_status=400, fail_message="Prompt too long.")
    try:
        session_id = await new_session(user, faulty.drop)
        response, _ = await send(user, session_id, says("a question"), faulty.drop)
        answer = await recorded_answer(user, session_id)
    finally:
        await faulty.models.reset(faulty.drop)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Prompt too long."
    messages = await session_messages(user, session_id)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert answer["content"] == ""
    assert answer["metrics_json"]["status"] == "error"
    assert answer["metrics_json"]["error"] == "Prompt too long."
