"""Chat commands: validate against the session's current state, then append one event to its
subject with optimistic concurrency (`Nats-Expected-Last-Subject-Sequence`).

`Idempotency-Key` retries: a session's id is derived from the key, so a retried creation finds
the session it made, at any time. A retried message carries the same `Nats-Msg-Id`, which
JetStream drops as a duplicate within the stream's duplicate window
(`Topology.duplicate_window_sec`, one hour). JetStream checks the expected last sequence before
the message id, so a retry that raced another write first fails the sequence check, reloads the
session and is then recognised as a duplicate.

To record a message sent to a model (the completions flow): `select_model(...)` (no-op if the
session already uses it, 409 `ModelLocked` if it has messages with another one), then
`add_message(..., model_name=...)`, which refuses with `ModelLocked` if another writer locked the
session to another model in between.
"""

import asyncio
import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from nats.errors import MaxPayloadError
from nats.js import JetStreamContext

from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import (
    AnyChatEvent,
    MessageAdded,
    Role,
    SessionCreated,
    SessionDeleted,
    SessionModelChanged,
    parse_chat_event,
)
from cortex_contracts.topology import Topology
from cortex_gateway.auth.principal import Principal
from cortex_gateway.chat.aggregate import ChatSession, load_session
from cortex_runtime.jetstream import ConcurrentWriteError, publish_event

MAX_ATTEMPTS = 30
CONFLICT_BACKOFF_SEC = 0.002
DELETE_ALL_CONCURRENCY = 8
SESSION_ID_NAMESPACE = uuid.UUID("6f1c1a52-3f0e-4d59-9a43-6a4d2b0d7c11")


class ModelChoice(TypedDict):
    """The model a session uses from now on (keyword arguments of `select_model`)."""

    model_name: str
    engine_type: str
    constraints_json: dict[str, Any] | None


class SessionNotFound(Exception):
    pass


class ModelLocked(Exception):
    def __init__(self, locked_to: str, requested: str) -> None:
        super().__init__(
            f"This chat is locked to model {locked_to}. Start a new chat to use {requested}."
        )


class ModelNotSelected(ModelLocked):
    """A message for another model than the (still unlocked) session's: select it first."""

    def __init__(self, current: str, requested: str) -> None:
        Exception.__init__(
            self, f"This chat uses model {current}: select {requested} for it before sending."
        )


class TooManyConflicts(Exception):
    pass


class EventTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Written:
    seq: int
    event: AnyChatEvent
    duplicate: bool


Build = Callable[[ChatSession | None], AnyChatEvent | Written]


def dedupe_id(principal: Principal, action: str, idempotency_key: str | None) -> str | None:
    if idempotency_key is None:
        return None
    raw = f"{principal.user_id}\n{action}\n{idempotency_key}".encode()
    return hashlib.sha256(raw).hexdigest()


class ChatCommands:
    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self.js = js
        self.topology = topology

    async def create_session(
        self,
        principal: Principal,
        *,
        model_name: str,
        engine_type: str,
        constraints_json: dict[str, Any] | None,
        title: str | None,
        idempotency_key: str | None,
    ) -> Written:
        dedupe = dedupe_id(principal, "create", idempotency_key)
        session_id = str(uuid.uuid5(SESSION_ID_NAMESPACE, dedupe) if dedupe else uuid.uuid4())

        def build(existing: ChatSession | None) -> AnyChatEvent | Written:
            if existing is not None:  # a retry of a creation that already happened
                return Written(seq=existing.last_seq, event=existing.created, duplicate=True)
            return SessionCreated(
                aggregate_id=session_id,
                actor=_actor(principal),
                previous_seq=0,
                title=title,
                model_name=model_name,
                engine_type=engine_type,
                constraints_json=constraints_json,
            )

        return await self._append(principal.user_id, session_id, build, dedupe)

    async def add_message(
        self,
        principal: Principal,
        session_id: str,
        *,
        role: Role,
        content: str,
        metrics_json: dict[str, Any] | None,
        model_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Written:
        def build(session: ChatSession | None) -> AnyChatEvent:
            live = _require_live(session)
            if model_name is not None and model_name != live.model_name:
                if live.has_messages:
                    raise ModelLocked(live.model_name, model_name)
                raise ModelNotSelected(live.model_name, model_name)
            return MessageAdded(
                aggregate_id=session_id,
                actor=_actor(principal),
                previous_seq=live.last_seq,
                role=role,
                content=content,
                metrics_json=metrics_json,
                model_name=live.model_name,
            )

        dedupe = dedupe_id(principal, f"message:{session_id}", idempotency_key)
        return await self._append(principal.user_id, session_id, build, dedupe)

    async def select_model(
        self, principal: Principal, session_id: str, **choice: Unpack[ModelChoice]
    ) -> Written | None:
        """Use this model from now on: None if the session already does; `ModelLocked` if it
        has messages with another one."""
        session = _require_live(
            await load_session(self.js, self.topology, principal.user_id, session_id)
        )
        if session.model_name == choice["model_name"]:
            return None
        return await self.change_model(principal, session_id, **choice)

    async def change_model(
        self, principal: Principal, session_id: str, **choice: Unpack[ModelChoice]
    ) -> Written:
        def build(session: ChatSession | None) -> AnyChatEvent:
            live = _require_live(session)
            if live.has_messages:
                raise ModelLocked(live.model_name, choice["model_name"])
            return SessionModelChanged(
                aggregate_id=session_id,
                actor=_actor(principal),
                previous_seq=live.last_seq,
                **choice,
            )

        return await self._append(principal.user_id, session_id, build, None)

    async def delete_session(self, principal: Principal, session_id: str) -> Written:
        def build(session: ChatSession | None) -> AnyChatEvent:
            live = _require_live(session)
            return SessionDeleted(
                aggregate_id=session_id, actor=_actor(principal), previous_seq=live.last_seq
            )

        return await self._append(principal.user_id, session_id, build, None)

    async def delete_all_sessions(self, principal: Principal) -> int:
        """Deletes every live session of the user; returns the newest written sequence."""
        info = await self.js.stream_info(
            self.topology.chat_stream,
            subjects_filter=self.topology.chat_user_subjects(principal.user_id),
        )
        gate = asyncio.Semaphore(DELETE_ALL_CONCURRENCY)

        async def delete(subject: str) -> int:
            async with gate:
                try:
                    session_id = self.topology.chat_session_of(subject)
                    return (await self.delete_session(principal, session_id)).seq
                except SessionNotFound:
                    return 0

        written = await asyncio.gather(*(delete(s) for s in info.state.subjects or {}))
        return max(written, default=0)

    async def _append(
        self, user_id: str, session_id: str, build: Build, dedupe: str | None
    ) -> Written:
        subject = self.topology.chat_subject(user_id, session_id)
        for attempt in range(MAX_ATTEMPTS):
            session = await load_session(self.js, self.topology, user_id, session_id)
            event = build(session)
            if isinstance(event, Written):
                return event
            try:
                ack = await publish_event(
                    self.js,
                    subject,
                    event,
                    expected_last_subject_seq=session.last_seq if session else 0,
                    msg_id=dedupe,
                )
            except ConcurrentWriteError:
                await asyncio.sleep(random.uniform(0, CONFLICT_BACKOFF_SEC * (attempt + 1)))
                continue
            except MaxPayloadError as error:
                raise EventTooLarge(
                    "The message is too large for the message bus; send a shorter one."
                ) from error
            if ack.duplicate:
                original = await self.js.get_msg(self.topology.chat_stream, ack.seq, direct=True)
                return Written(ack.seq, parse_chat_event(original.data or b""), duplicate=True)
            return Written(ack.seq, event, duplicate=False)
        raise TooManyConflicts(f"Chat session {session_id} is being written too fast; retry.")


def _require_live(session: ChatSession | None) -> ChatSession:
    if session is None or session.deleted:
        raise SessionNotFound
    return session


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, org_id=principal.org_id)
