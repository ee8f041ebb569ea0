"""Bad and oversized input is refused at the gateway with a clear 4xx, never a 500, and before
anything is acknowledged: body caps (refused before the body is read), JSON nesting, NUL
characters and unpaired surrogates, and the usage report's bounds."""

import asyncio
import json
from urllib.parse import urlsplit

import httpx
import nats
import pytest

from tests.conftest import LoginAs
from tests.support.chat import create_session, get_when_ready
from tests.support.completions import recorded_answer
from tests.support.stack import Stack
from tests.support.usage import topology_of

pytestmark = pytest.mark.e2e

MODEL = "sim-vllm-small"
HUGE = 300 * 1024 * 1024  # declared, never sent
MiB = 1024 * 1024
ANSWER_WITHIN_SEC = 20.0
SESSION_HEADER = "X-Chat-Session-Id"


async def upload_until_answered(
    url: str, path: str, head: dict[str, str], chunked: bool, send_at_most: int
) -> tuple[int, dict[str, str], bytes]:
    """Start an upload that never ends (it stalls after `send_at_most` bytes, a little over the
    route's cap) and read the answer meanwhile: (status, headers, body). An answer at all means
    the gateway did not wait for the whole body."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in head.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = 0

    async def upload() -> None:
        nonlocal sent
        piece = b'{"x":"' + b"a" * (64 * 1024)
        while sent < send_at_most:
            writer.write(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
            await writer.drain()
        await asyncio.Event().wait()  # stalls: the upload never ends

    uploading = asyncio.create_task(upload())
    try:
        status_line = await asyncio.wait_for(reader.readline(), ANSWER_WITHIN_SEC)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length)
    finally:
        uploading.cancel()
        writer.close()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_an_oversized_login_is_refused_before_its_body_is_read(
    stack: Stack, chunked: bool
) -> None:
    status, headers, body = await upload_until_answered(
        stack.gateway_url, "/auth/login", {}, chunked, send_at_most=1 * MiB
    )

    assert status == 413
    assert headers["content-type"] == "application/json"
    assert "detail" in json.loads(body)


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_an_oversized_completion_is_refused_before_its_body_is_read(
    stack: Stack, login_as: LoginAs, chunked: bool
) -> None:
    client = await login_as()
    head = {
        "Cookie": "; ".join(f"{name}={value}" for name, value in client.cookies.items()),
        "X-CSRF-Token": client.headers["X-CSRF-Token"],
    }
    status, headers, body = await upload_until_answered(
        stack.gateway_url, "/v1/chat/completions", head, chunked, send_at_most=17 * MiB
    )

    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


async def test_an_oversized_chat_message_body_is_refused(login_as: LoginAs) -> None:
    client = await login_as()
    session_id = await create_session(client)

    refused = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        content=b'{"role":"user","content":"' + b"a" * (9 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )

    assert refused.status_code == 413
    assert "detail" in refused.json()


async def test_a_deeply_nested_completion_gets_an_openai_shaped_400(login_as: LoginAs) -> None:
    client = await login_as()
    depth = 100_000

    refused = await client.post(
        "/v1/chat/completions",
        content=b"[" * depth + b"]" * depth,
        headers={"Content-Type": "application/json"},
    )
    nested = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "x": []}
    inner = nested["x"]
    for _ in range(500):  # parses, but deeper than any request needs
        inner.append([])
        inner = inner[0]
    also_refused = await client.post("/v1/chat/completions", json=nested)

    for answer in (refused, also_refused):
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "nested deeper" in error["message"]


async def test_a_nul_in_a_recorded_turn_is_refused_and_nothing_is_recorded(
    login_as: LoginAs,
) -> None:
    client = await login_as()
    session_id = await create_session(client)

    refused = await client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "a\u0000b"}]},
        headers={SESSION_HEADER: session_id},
    )

    assert refused.status_code == 422, refused.text
    assert "NUL" in refused.json()["error"]["message"]
    fetched = await get_when_ready(client, f"/v1/chat/sessions/{session_id}")
    assert fetched.json()["messages"] == []


async def test_a_lone_surrogate_is_refused_by_completions_and_the_chat_api(
    login_as: LoginAs,
) -> None:
    client = await login_as()
    session_id = await create_session(client)
    lone = '"a\\ud800b"'  # a JSON escape: the body itself is valid UTF-8
    json_header = {"Content-Type": "application/json"}

    completion = await client.post(
        "/v1/chat/completions",
        content=f'{{"model":"{MODEL}","messages":[{{"role":"user","content":{lone}}}]}}',
        headers=json_header,
    )
    recorded = await client.post(
        "/v1/chat/completions",
        content=f'{{"model":"{MODEL}","messages":[{{"role":"user","content":{lone}}}]}}',
        headers={**json_header, SESSION_HEADER: session_id},
    )
    message = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        content=f'{{"role":"user","content":{lone}}}',
        headers=json_header,
    )
    paired = await client.post(  # a valid pair (an emoji) is fine
        f"/v1/chat/sessions/{session_id}/messages",
        content='{"role":"user","content":"a\\ud83d\\ude00b"}',
        headers=json_header,
    )

    for refused in (completion, recorded):
        assert refused.status_code == 400, refused.text
        assert "surrogate" in refused.json()["error"]["message"]
    assert message.status_code == 422, message.text
    assert "surrogate" in message.json()["detail"]
    assert paired.status_code == 201, paired.text
    fetched = await get_when_ready(client, f"/v1/chat/sessions/{session_id}")
    assert [m["content"] for m in fetched.json()["messages"]] == ["a\U0001f600b"]


@pytest.mark.parametrize("depth", [40, 800])
async def test_deeply_nested_metrics_are_refused_not_dead_lettered(
    login_as: LoginAs, depth: int
) -> None:
    client = await login_as()
    session_id = await create_session(client)
    metrics: dict[str, object] = {"ttft_ms": 1}
    for _ in range(depth):
        metrics = {"x": metrics}

    refused = await client.post(
        f"/v1/chat/sessions/{session_id}/messages",
        json={"role": "assistant", "content": "hello", "metrics_json": metrics},
    )

    assert refused.status_code == 422, refused.text
    assert "nested deeper" in refused.json()["detail"]
    fetched = await get_when_ready(client, f"/v1/chat/sessions/{session_id}")
    assert fetched.json()["messages"] == []


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "ad\u0000min", "password": "irrelevant-password"},
        {"username": "admin", "password": "bad\ud800"},
    ],
    ids=["nul-username", "surrogate-password"],
)
async def test_unstorable_login_input_is_refused_not_a_server_error(
    stack: Stack, credentials: dict[str, str]
) -> None:
    body = json.dumps(credentials)  # ASCII: NUL and the surrogate as \\u escapes
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        refused = await client.post(
            "/auth/login", content=body, headers={"Content-Type": "application/json"}
        )

    assert refused.status_code in (401, 422), refused.text
    assert "detail" in refused.json()


@pytest.mark.parametrize(
    "params",
    [
        {"model": "\u0000x"},
        {"start": "0001-01-01T00:00:00Z", "group_by": "hour"},
        {"start": "2020-01-01T00:00:00Z", "end": "2022-01-01T00:00:00Z", "group_by": "hour"},
        {"end": "9999-12-31T23:59:59Z"},
    ],
    ids=["nul-model", "year-1-hourly", "two-years-hourly", "year-9999"],
)
async def test_usage_queries_out_of_bounds_are_refused_at_once(
    login_as: LoginAs, params: dict[str, str]
) -> None:
    admin = await login_as("admin")

    refused = await admin.get("/admin/usage", params=params, timeout=10)

    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"]


async def test_the_usage_service_answers_out_of_bounds_queries_with_an_error(
    stack: Stack,
) -> None:
    """Asked directly over NATS (not through the gateway), it replies with the runtime's bad-input
    error (400, docs/runtime.md) rather than failing."""
    topology = topology_of(stack)
    nc = await nats.connect(stack.env["CORTEX_NATS_URL"])
    try:
        replies = [
            await nc.request(topology.usage_query_subject, json.dumps(query).encode(), timeout=10)
            for query in (
                {"start": "0001-01-01T00:00:00Z", "group_by": "hour"},
                {"model": "\u0000x"},
            )
        ]
    finally:
        await nc.close()

    for reply in replies:
        answer = json.loads(reply.data)
        assert answer["status"] == 400, answer
        assert answer["error"]


async def test_a_model_answer_with_a_nul_is_still_recorded(login_as: LoginAs) -> None:
    """The answer is the model's text, not the user's: stored as the projection can keep it."""
    client = await login_as()
    session_id = await create_session(client)

    answered = await client.post(
        "/v1/chat/completions",  # regenerating: the user's turn is not recorded again
        json={"model": MODEL, "messages": [{"role": "user", "content": "echo: a\u0000b"}]},
        headers={SESSION_HEADER: session_id, "X-Chat-Regenerate": "true"},
    )

    assert answered.status_code == 200, answered.text
    assert answered.json()["choices"][0]["message"]["content"] == "a\u0000b"  # as the model sent it
    recorded = await recorded_answer(client, session_id)
    assert recorded["content"] == "ab"
