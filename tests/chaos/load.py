"""A steady mixed load through every gateway, each request logged with its outcome: chats
created, messages posted by several users, streaming playground completions against the
simulator (each one's usage recorded by the usage service)."""

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field

import httpx

from tests.support.chat import MODEL, user_id_of
from tests.support.clients import login
from tests.support.stack import Stack

# An answer slower than this during an outage breaks the promise of a bounded 503: the
# gateway's database bound (2 s) plus a publish riding out an election (5 s) plus a read of
# the chat (3 s).
ANSWER_BOUND_SEC = 10.0
HANG_SEC = 30.0  # the client gives up: a request still open then has hung
PAUSE_SEC = 0.05  # between one user's requests


@dataclass
class Outcome:
    kind: str  # create | message | completion | read
    gateway: int
    started: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no HTTP answer (see error)
    error: str | None = None  # refused | hung | cut | an exception's name
    retry_after: bool = False
    json_body: bool = False
    key: str = ""  # the chat id, the message content, the completion id
    text: str = ""  # a completion's user turn
    user_id: str = ""
    seq: int | None = None  # a message's stream sequence
    finished: bool = False  # a completion streamed to its end

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def label(self) -> str:
        return str(self.status) if self.status is not None else str(self.error)


@dataclass
class Load:
    users: list[tuple[httpx.AsyncClient, str, int]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self.stopping.clear()
        self.tasks = [asyncio.create_task(self._user(*user)) for user in self.users]

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.gather(*self.tasks)

    async def close(self) -> None:
        for client, _, _ in self.users:
            await client.aclose()

    def since(self, start: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= start]

    async def _user(self, client: httpx.AsyncClient, user_id: str, gateway: int) -> None:
        chat_id: str | None = None
        for turn in itertools.count():
            if self.stopping.is_set():
                return
            if chat_id is None or turn % 10 == 0:
                chat_id = await self._create(client, user_id, gateway) or chat_id
            elif turn % 4 == 0:
                await self._complete(client, user_id, gateway, chat_id)
            elif turn % 7 == 0:
                await self._read(client, user_id, gateway, chat_id)
            else:
                await self._message(client, user_id, gateway, chat_id)
            await asyncio.sleep(PAUSE_SEC)

    async def _create(self, client: httpx.AsyncClient, user_id: str, gateway: int) -> str | None:
        outcome = await self._send(
            "create", client, user_id, gateway, "POST", "/v1/chat/sessions",
            json={"model_name": MODEL},
        )  # fmt: skip
        return outcome.key or None

    async def _message(
        self, client: httpx.AsyncClient, user_id: str, gateway: int, chat_id: str
    ) -> None:
        content = f"chaos-{uuid.uuid4().hex}"
        await self._send(
            "message", client, user_id, gateway, "POST",
            f"/v1/chat/sessions/{chat_id}/messages",
            json={"role": "user", "content": content}, key=content,
        )  # fmt: skip

    async def _read(
        self, client: httpx.AsyncClient, user_id: str, gateway: int, chat_id: str
    ) -> None:
        await self._send(
            "read", client, user_id, gateway, "GET", f"/v1/chat/sessions/{chat_id}",
            key=chat_id,
        )  # fmt: skip

    async def _complete(
        self, client: httpx.AsyncClient, user_id: str, gateway: int, chat_id: str
    ) -> None:
        content = f"echo: chaos-{uuid.uuid4().hex}"
        body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": True}
        outcome = Outcome(
            "completion", gateway, time.monotonic(), 0.0, None, user_id=user_id, text=content
        )
        try:
            async with client.stream(
                "POST", "/v1/chat/completions", json=body,
                headers={"X-Chat-Session-Id": chat_id},
            ) as response:  # fmt: skip
                outcome.status = response.status_code
                outcome.key = response.headers.get("x-cortex-completion-id", "")
                outcome.retry_after = "retry-after" in response.headers
                outcome.json_body = response.headers.get("content-type", "").startswith(
                    "application/json"
                )
                async for line in response.aiter_lines():
                    if line.strip() == "data: [DONE]":
                        outcome.finished = True
        except httpx.ConnectError:
            outcome.error = "refused"
        except httpx.TimeoutException:
            outcome.error = "hung"
        except httpx.HTTPError as error:
            outcome.error = "cut" if outcome.status else type(error).__name__
        outcome.seconds = time.monotonic() - outcome.started
        self.outcomes.append(outcome)

    async def _send(
        self,
        kind: str,
        client: httpx.AsyncClient,
        user_id: str,
        gateway: int,
        method: str,
        url: str,
        key: str = "",
        **kwargs: object,
    ) -> Outcome:
        outcome = Outcome(kind, gateway, time.monotonic(), 0.0, None, user_id=user_id)
        try:
            response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
            outcome.status = response.status_code
            outcome.retry_after = "retry-after" in response.headers
            outcome.json_body = response.headers.get("content-type", "").startswith(
                "application/json"
            )
            if outcome.acknowledged and kind == "create":
                key = str(response.json()["id"])
            if outcome.acknowledged and kind == "message":
                outcome.seq = int(response.json()["id"])
        except httpx.ConnectError:
            outcome.error = "refused"
        except httpx.TimeoutException:
            outcome.error = "hung"
        except httpx.HTTPError as error:
            outcome.error = type(error).__name__
        outcome.key = key
        outcome.seconds = time.monotonic() - outcome.started
        self.outcomes.append(outcome)
        return outcome


async def users_on(stack: Stack, gateway_urls: list[str], count: int) -> Load:
    """`count` users, spread over the gateways, each logged in on its own."""
    load = Load()
    for index in range(count):
        gateway = index % len(gateway_urls)
        username, password = stack.create_user()
        client = await login(gateway_urls[gateway], username, password)
        client.timeout = httpx.Timeout(HANG_SEC)
        load.users.append((client, await user_id_of(client), gateway))
    return load
