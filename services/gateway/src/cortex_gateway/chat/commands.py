"""Chat commands: validate against the session's current state, then append one event to its
subject with optimistic concurrency; `Idempotency-Key` retries become JetStream duplicates."""

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
from cortex_contracts.runtime.jetstream import ConcurrentWriteError, publish_event
from cortex_contracts.topology import Topology
from cortex_gateway.auth.principal import Principal
from cortex_gateway.chat.aggregate import ChatSession, load_session

MAX_ATTEMPTS = 8
SESSION_ID_NAMESPACE = uuid.UUID("6f1c1a52-3f0e-4d59-9a43-6a4d2b0d7c11")


class SessionNotFound(Exception):
    pass


class ModelLocked(Exception):
    def __init__(self, locked_to: str, requested: str) -> None:
        super().__init__(
            f"This chat is locked to model {locked_to}. Start a new chat to use {requested}."
        )


class TooManyConflicts(Exception):
    pass


@dataclass(frozen=True)
class Written:
    seq: int
    event: AnyChatEvent
    duplicate: bool


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
        existing = await load_session(self.js, self.topology, principal.user_id, session_id)
        if existing is not None:  # a retry of a create that already happened
            return Written(seq=existing.last_seq, event=existing.created, duplicate=True)

        def build(_: ChatSession | None) -> AnyChatEvent:
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
            if model_name is not None and live.has_messages and model_name != live.model_name:
                raise ModelLocked(live.model_name, model_name)
            return MessageAdded(
                aggregate_id=session_id,
                actor=_actor(principal),
                previous_seq=live.last_seq,
                role=role,
                content=content,
                metrics_json=metrics_json,
                model_name=model_name or live.model_name,
            )

        dedupe = dedupe_id(principal, f"message:{session_id}", idempotency_key)
        return await self._append(principal.user_id, session_id, build, dedupe)

    async def change_model(
        self,
        principal: Principal,
        session_id: str,
        *,
        model_name: str,
        engine_type: str,
        constraints_json: dict[str, Any] | None,
    ) -> Written:
        def build(session: ChatSession | None) -> AnyChatEvent:
            live = _require_live(session)
            if live.has_messages:
                raise ModelLocked(live.model_name, model_name)
            return SessionModelChanged(
                aggregate_id=session_id,
                actor=_actor(principal),
                previous_seq=live.last_seq,
                model_name=model_name,
                engine_type=engine_type,
                constraints_json=constraints_json,
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
        newest = 0
        for subject in info.state.subjects or {}:
            session_id = subject.rsplit(".", 1)[-1]
            try:
                written = await self.delete_session(principal, session_id)
            except SessionNotFound:
                continue
            newest = max(newest, written.seq)
        return newest

    async def _append(
        self,
        user_id: str,
        session_id: str,
        build: Callable[[ChatSession | None], AnyChatEvent],
        dedupe: str | None,
    ) -> Written:
        subject = self.topology.chat_subject(user_id, session_id)
        for _ in range(MAX_ATTEMPTS):
            session = await load_session(self.js, self.topology, user_id, session_id)
            event = build(session)
            try:
                ack = await publish_event(
                    self.js,
                    subject,
                    event,
                    expected_last_subject_seq=event.previous_seq,
                    msg_id=dedupe,
                )
            except ConcurrentWriteError:
                continue
            if ack.duplicate:
                original = await self.js.get_msg(self.topology.chat_stream, ack.seq, direct=True)
                return Written(ack.seq, parse_chat_event(original.data or b""), duplicate=True)
            return Written(ack.seq, event, duplicate=False)
        raise TooManyConflicts(f"chat session {session_id} is being written too fast; retry")


def _require_live(session: ChatSession | None) -> ChatSession:
    if session is None or session.deleted:
        raise SessionNotFound
    return session


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, org_id=principal.org_id)
