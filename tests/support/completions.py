"""Helpers for the completions and models tests: private simulated models registered through the
admin API, API keys, reading SSE streams, usage events and recorded answers."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import nats

from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.topology import Topology
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

DEADLINE_SEC = 60.0  # generous: conditions are polled, never timed


async def eventually(
    condition: Callable[[], Awaitable[Any]], what: str, deadline_sec: float = DEADLINE_SEC
) -> Any:
    """Poll until `condition()` returns something truthy; return it."""
    deadline = time.monotonic() + deadline_sec
    while True:
        found = await condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {deadline_sec:g} s: {what}")
        await asyncio.sleep(0.1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- private simulated models ------------------------------------------------------------------
@dataclass
class PrivateModels:
    """A simulator process of the test's own, its models registered in the gateway (by admin)."""

    simulator: ServiceProcess
    names: list[str]

    def base_url(self, name: str) -> str:
        return f"{self.simulator.url}/m/{name}"

    async def control(self, name: str, **update: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.simulator.url, timeout=10) as client:
            response = await client.post(f"/_control/{name}", json=update)
            response.raise_for_status()
            return dict(response.json())

    async def state(self, name: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.simulator.url, timeout=10) as client:
            response = await client.get(f"/_control/{name}")
            response.raise_for_status()
            return dict(response.json())

    async def reset(self, name: str) -> None:
        async with httpx.AsyncClient(base_url=self.simulator.url, timeout=10) as client:
            (await client.post(f"/_control/{name}/reset")).raise_for_status()


@asynccontextmanager
async def private_models(
    stack: Stack, admin: httpx.AsyncClient, models: list[dict[str, Any]], **upstream: Any
) -> AsyncIterator[PrivateModels]:
    """Start a simulator with `models`, register each (engine = personality), wait until they are
    healthy; unregister and stop everything afterwards (the stack is shared)."""
    simulator = ServiceProcess(
        "simulator", {**stack.env, "CORTEX_SIMULATOR_MODELS": json.dumps(models)}
    )
    simulator.start()
    names = [model["name"] for model in models]
    private = PrivateModels(simulator, names)
    try:
        for model in models:
            await register(
                admin,
                model["name"],
                private.base_url(model["name"]),
                model.get("personality", "vllm"),
                **upstream,
            )
        await wait_running(admin, set(names))
        yield private
    finally:
        for name in names:
            await admin.delete(f"/admin/upstreams/{name}")
        simulator.stop()


async def register(
    admin: httpx.AsyncClient, name: str, base_url: str, engine_type: str, **extra: Any
) -> dict[str, Any]:
    body = {"served_model_name": name, "base_url": base_url, "engine_type": engine_type, **extra}
    response = await admin.post("/admin/upstreams", json=body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def running_names(client: httpx.AsyncClient) -> set[str]:
    response = await client.get("/v1/models/running")
    assert response.status_code == 200, response.text
    return {model["served_model_name"] for model in response.json()["models"]}


async def wait_running(client: httpx.AsyncClient, names: set[str]) -> None:
    async def all_running() -> bool:
        return names <= await running_names(client)

    await eventually(all_running, f"{sorted(names)} running")


# --- API keys ----------------------------------------------------------------------------------
async def user_id_of(client: httpx.AsyncClient) -> str:
    me = await client.get("/auth/me")
    assert me.status_code == 200, me.text
    return str(me.json()["id"])


async def new_api_key(admin: httpx.AsyncClient, user_id: str) -> str:
    created = await admin.post("/admin/keys", json={"user_id": user_id, "name": "completions"})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


# --- streams -----------------------------------------------------------------------------------
@dataclass
class SseEvent:
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class ReadStream:
    events: list[SseEvent] = field(default_factory=list)

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [e.json() for e in self.events if e.event == "message" and e.data != "[DONE]"]

    @property
    def content(self) -> str:
        return "".join(
            (choice.get("delta") or {}).get("content") or ""
            for chunk in self.chunks
            for choice in chunk.get("choices") or []
        )

    @property
    def names(self) -> list[str]:
        return [e.event if e.data != "[DONE]" else "[DONE]" for e in self.events]

    def named(self, name: str) -> list[SseEvent]:
        return [e for e in self.events if e.event == name]

    @property
    def metrics(self) -> dict[str, Any]:
        [event] = self.named("cortex.metrics")
        return dict(event.json())


def parse_sse(text: str) -> list[SseEvent]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        events.append(SseEvent(name, "\n".join(data)))
    return events


async def read_sse(response: httpx.Response) -> ReadStream:
    return ReadStream(parse_sse((await response.aread()).decode()))


def chat_body(model: str, content: str = "Tell me about caching", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


# --- what the gateway recorded -----------------------------------------------------------------
async def usage_event(stack: Stack, model: str, completion_id: str) -> CompletionRecorded:
    """The usage event of one completion, read back from the usage stream."""
    topology = Topology(prefix=stack.env["CORTEX_NATS_PREFIX"])
    nc = await nats.connect(stack.env["CORTEX_NATS_URL"])
    try:
        js = nc.jetstream()

        async def find() -> CompletionRecorded | None:
            sub = await js.subscribe(
                topology.usage_subject(model), ordered_consumer=True, deliver_policy=None
            )
            try:
                while True:
                    try:
                        msg = await sub.next_msg(timeout=0.5)
                    except nats.errors.TimeoutError:
                        return None
                    event = CompletionRecorded.model_validate_json(msg.data)
                    if event.aggregate_id == completion_id:
                        return event
            finally:
                await sub.unsubscribe()

        found: CompletionRecorded = await eventually(find, f"usage event of {completion_id}")
        return found
    finally:
        await nc.drain()


async def session_messages(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/chat/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


async def recorded_answer(client: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    """The session's last message once it is the assistant's (recorded when the stream ends)."""

    async def answer() -> dict[str, Any] | None:
        messages = await session_messages(client, session_id)
        return messages[-1] if messages and messages[-1]["role"] == "assistant" else None

    found: dict[str, Any] = await eventually(answer, f"assistant message in {session_id}")
    return found


async def new_session(client: httpx.AsyncClient, model: str) -> str:
    created = await client.post("/v1/chat/sessions", json={"model_name": model})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])
