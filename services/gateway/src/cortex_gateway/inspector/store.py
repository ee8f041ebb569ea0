"""Presets and chat checks, written as events and read back from their subjects' newest event.

A user's presets are the subjects `inspect.preset.*.<user>.*`; the org's shared ones are under
`inspect.preset.<org>.*.*` with `shared` set. Nothing here needs a projection: a subject's state
is its newest event (a direct get), and a listing is one subject filter per reader.
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

from nats.errors import MaxPayloadError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from cortex_contracts.envelope import Actor, Event
from cortex_contracts.events.inspector import (
    AnyInspectorEvent,
    BatchReport,
    ChatInspectorSaved,
    PresetBody,
    PresetDeleted,
    PresetSaved,
    parse_inspector_event,
)
from cortex_contracts.topology import Topology
from cortex_gateway.auth.principal import Principal
from cortex_gateway.chat.commands import EventTooLarge  # answered 413 by errors.py
from cortex_runtime.jetstream import publish_event

MAX_PRESETS_LISTED = 500
READ_CONCURRENCY = 16


class PresetNotFound(Exception):
    pass


async def _publish(js: JetStreamContext, subject: str, event: Event) -> None:
    try:
        await publish_event(js, subject, event)
    except MaxPayloadError as error:
        raise EventTooLarge("This is too large to store; make it smaller.") from error


@dataclass(frozen=True)
class StoredPreset:
    event: PresetSaved
    owner_id: str
    updated_at: datetime


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, org_id=principal.org_id)


class InspectorStore:
    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self.js = js
        self.topology = topology

    async def _newest(self, subject: str) -> AnyInspectorEvent | None:
        try:
            message = await self.js.get_last_msg(self.topology.inspect_stream, subject, direct=True)
        except NotFoundError:
            return None
        try:
            return parse_inspector_event(message.data or b"")
        except ValidationError:
            return None

    # --- presets ------------------------------------------------------------------------------
    async def save_preset(
        self,
        principal: Principal,
        preset_id: str | None,
        *,
        name: str,
        shared: bool,
        preset: PresetBody,
    ) -> StoredPreset:
        if preset_id is not None:
            await self.own_preset(principal, preset_id)  # only the owner changes a preset
        event = PresetSaved(
            aggregate_id=preset_id or str(uuid.uuid4()),
            actor=_actor(principal),
            name=name,
            shared=shared,
            preset=preset,
        )
        subject = self.topology.preset_subject(
            principal.org_id, principal.user_id, event.aggregate_id
        )
        await _publish(self.js, subject, event)
        return StoredPreset(event, principal.user_id, event.occurred_at)

    async def own_preset(self, principal: Principal, preset_id: str) -> PresetSaved:
        subject = self.topology.preset_subject(principal.org_id, principal.user_id, preset_id)
        event = await self._newest(subject)
        if not isinstance(event, PresetSaved):
            raise PresetNotFound
        return event

    async def delete_preset(self, principal: Principal, preset_id: str) -> None:
        await self.own_preset(principal, preset_id)
        subject = self.topology.preset_subject(principal.org_id, principal.user_id, preset_id)
        await _publish(
            self.js, subject, PresetDeleted(aggregate_id=preset_id, actor=_actor(principal))
        )

    async def list_presets(self, principal: Principal) -> list[StoredPreset]:
        """The user's own presets and those their org's members shared, newest first."""
        subjects: set[str] = set()
        for subject_filter in (
            self.topology.user_presets(principal.user_id),
            self.topology.org_presets(principal.org_id),
        ):
            try:
                info = await self.js.stream_info(
                    self.topology.inspect_stream, subjects_filter=subject_filter
                )
            except NotFoundError:
                continue
            subjects.update(info.state.subjects or {})
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(subject: str) -> StoredPreset | None:
            async with gate:
                event = await self._newest(subject)
            if not isinstance(event, PresetSaved):
                return None
            owner = event.actor.user_id or ""
            if owner != principal.user_id and not event.shared:
                return None
            return StoredPreset(event, owner, event.occurred_at)

        found = await asyncio.gather(*(read(s) for s in sorted(subjects)[:MAX_PRESETS_LISTED]))
        presets = [p for p in found if p is not None]
        return sorted(presets, key=lambda p: p.updated_at, reverse=True)

    # --- the checks kept with a chat --------------------------------------------------------------
    async def chat_checks(self, principal: Principal, session_id: str) -> ChatInspectorSaved | None:
        event = await self._newest(
            self.topology.chat_inspector_subject(principal.user_id, session_id)
        )
        return event if isinstance(event, ChatInspectorSaved) else None

    async def save_chat_checks(
        self,
        principal: Principal,
        session_id: str,
        *,
        output_schema: dict[str, object] | None,
        tools: list[dict[str, object]] | None,
        batch: BatchReport | None,
    ) -> ChatInspectorSaved:
        event = ChatInspectorSaved(
            aggregate_id=session_id,
            actor=_actor(principal),
            output_schema=output_schema,
            tools=tools,
            batch=batch,
        )
        subject = self.topology.chat_inspector_subject(principal.user_id, session_id)
        await _publish(self.js, subject, event)
        return event
