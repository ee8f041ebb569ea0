"""Comparison commands: validate against the comparison's state, then append one event to its
subject with optimistic concurrency, as chat commands do (see chat/commands.py). The panes are
chat sessions made with `ChatCommands`, their ids derived from the comparison's, so a retried
creation finds the sessions it made.
"""

import asyncio
import contextlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from nats.js import JetStreamContext

from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import Role
from cortex_contracts.events.compare import (
    AnyComparisonEvent,
    ComparisonCreated,
    ComparisonDeleted,
    Pane,
    Sampling,
    TurnAdded,
    VoteCast,
    VoteChoice,
    pane_label,
)
from cortex_contracts.events.models import Upstream
from cortex_contracts.topology import Topology
from cortex_gateway.auth.principal import Principal
from cortex_gateway.chat.commands import (
    SESSION_ID_NAMESPACE,
    ChatCommands,
    SessionNotFound,
    TooManyConflicts,
    dedupe_id,
)
from cortex_gateway.compare.aggregate import Comparison, load_comparison
from cortex_gateway.models.catalog import constraints_of
from cortex_runtime.jetstream import ConcurrentWriteError, publish_event

MAX_ATTEMPTS = 30
CONFLICT_BACKOFF_SEC = 0.002
COMPARISON_ID_NAMESPACE = uuid.UUID("0b6f3d8e-5a41-4c36-9d67-2c1f0f6a9e21")


class ComparisonNotFound(Exception):
    pass


class InvalidVote(Exception):
    pass


@dataclass(frozen=True)
class PaneChoice:
    upstream: Upstream
    sampling: Sampling


Build = Callable[[Comparison | None], AnyComparisonEvent | None]


class CompareCommands:
    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self.js = js
        self.topology = topology
        self.chats = ChatCommands(js, topology)

    async def create(
        self,
        principal: Principal,
        *,
        title: str,
        blind: bool,
        panes: list[PaneChoice],
        system_prompt: str | None,
        history: list[tuple[Role, str]],
        from_session_id: str | None,
        idempotency_key: str | None,
    ) -> Comparison:
        dedupe = dedupe_id(principal, "compare", idempotency_key)
        comparison_id = str(uuid.uuid5(COMPARISON_ID_NAMESPACE, dedupe) if dedupe else uuid.uuid4())
        existing = await load_comparison(self.js, self.topology, principal.user_id, comparison_id)
        if existing is not None:  # a retried creation
            return existing
        order = list(panes)
        if blind:  # arena style: the pane order says nothing about the models
            random.SystemRandom().shuffle(order)
        keys = [f"{comparison_id}:pane:{index}" for index in range(len(order))]
        created = ComparisonCreated(
            aggregate_id=comparison_id,
            actor=_actor(principal),
            previous_seq=0,
            title=title,
            blind=blind,
            panes=[
                Pane(
                    session_id=_session_id(principal, key),
                    model_name=choice.upstream.served_model_name,
                    engine_type=choice.upstream.engine_type,
                    sampling=choice.sampling,
                )
                for key, choice in zip(keys, order, strict=True)
            ],
            system_prompt=system_prompt,
            from_session_id=from_session_id,
        )
        # The comparison first: the chat list leaves out its panes as soon as it is projected.
        await self._append(principal.user_id, comparison_id, lambda _: created, dedupe)
        await asyncio.gather(
            *(
                self._make_pane(principal, index, key, choice, title, system_prompt, history)
                for index, (key, choice) in enumerate(zip(keys, order, strict=True))
            )
        )
        found = await load_comparison(self.js, self.topology, principal.user_id, comparison_id)
        assert found is not None
        return found

    async def _make_pane(
        self,
        principal: Principal,
        index: int,
        key: str,
        choice: PaneChoice,
        title: str,
        system_prompt: str | None,
        history: list[tuple[Role, str]],
    ) -> None:
        written = await self.chats.create_session(
            principal,
            model_name=choice.upstream.served_model_name,
            engine_type=choice.upstream.engine_type,
            constraints_json=constraints_of(choice.upstream),
            title=f"{title} ({pane_label(index)})",
            idempotency_key=key,
        )
        session_id = written.event.aggregate_id
        turns: list[tuple[Role, str]] = [("system", system_prompt)] if system_prompt else []
        for number, (role, content) in enumerate([*turns, *history]):
            await self.chats.add_message(
                principal,
                session_id,
                role=role,
                content=content,
                metrics_json=None,
                idempotency_key=f"{key}:prefill:{number}",
            )

    async def add_turn(
        self, principal: Principal, comparison_id: str, prompt: str, sampling: list[Sampling]
    ) -> tuple[Comparison, TurnAdded]:
        def build(comparison: Comparison | None) -> AnyComparisonEvent:
            live = _require_live(comparison)
            return TurnAdded(
                aggregate_id=comparison_id,
                actor=_actor(principal),
                previous_seq=live.last_seq,
                turn=len(live.turns) + 1,
                prompt=prompt,
                sampling=sampling,
            )

        event = await self._append(principal.user_id, comparison_id, build, None)
        assert isinstance(event, TurnAdded)
        return await self.get(principal, comparison_id), event

    async def vote(
        self,
        principal: Principal,
        comparison_id: str,
        *,
        turn: int,
        choice: VoteChoice,
        pane: int | None,
    ) -> Comparison:
        def build(comparison: Comparison | None) -> AnyComparisonEvent:
            live = _require_live(comparison)
            if turn > len(live.turns):
                raise InvalidVote(f"This comparison has no turn {turn} yet.")
            if (choice == "pane") != (pane is not None):
                raise InvalidVote(
                    "`pane` names the preferred answer: give it with choice 'pane' only."
                )
            if pane is not None and pane >= len(live.created.panes):
                raise InvalidVote(f"This comparison has no pane {pane}.")
            return VoteCast(
                aggregate_id=comparison_id,
                actor=_actor(principal),
                previous_seq=live.last_seq,
                turn=turn,
                choice=choice,
                pane=pane,
                models=live.models,
                blind=live.hidden,
            )

        await self._append(principal.user_id, comparison_id, build, None)
        return await self.get(principal, comparison_id)

    async def delete(self, principal: Principal, comparison_id: str) -> None:
        """The comparison and its panes' chats."""
        comparison: Comparison | None = None

        def build(found: Comparison | None) -> AnyComparisonEvent:
            nonlocal comparison
            comparison = _require_live(found)
            return ComparisonDeleted(
                aggregate_id=comparison_id,
                actor=_actor(principal),
                previous_seq=comparison.last_seq,
            )

        await self._append(principal.user_id, comparison_id, build, None)
        assert comparison is not None
        for pane in comparison.created.panes:
            with contextlib.suppress(SessionNotFound):
                await self.chats.delete_session(principal, pane.session_id)

    async def get(self, principal: Principal, comparison_id: str) -> Comparison:
        """The live comparison, or `ComparisonNotFound`."""
        found = await load_comparison(self.js, self.topology, principal.user_id, comparison_id)
        return _require_live(found)

    async def _append(
        self, user_id: str, comparison_id: str, build: Build, dedupe: str | None
    ) -> AnyComparisonEvent:
        subject = self.topology.compare_subject(user_id, comparison_id)
        for attempt in range(MAX_ATTEMPTS):
            comparison = await load_comparison(self.js, self.topology, user_id, comparison_id)
            event = build(comparison)
            assert event is not None
            try:
                await publish_event(
                    self.js,
                    subject,
                    event,
                    expected_last_subject_seq=comparison.last_seq if comparison else 0,
                    msg_id=dedupe,
                )
            except ConcurrentWriteError:
                await asyncio.sleep(random.uniform(0, CONFLICT_BACKOFF_SEC * (attempt + 1)))
                continue
            return event
        raise TooManyConflicts(f"Comparison {comparison_id} is being written too fast; retry.")


def _session_id(principal: Principal, idempotency_key: str) -> str:
    """The id `ChatCommands.create_session` gives the session made with this key."""
    dedupe = dedupe_id(principal, "create", idempotency_key)
    assert dedupe is not None
    return str(uuid.uuid5(SESSION_ID_NAMESPACE, dedupe))


def _require_live(comparison: Comparison | None) -> Comparison:
    if comparison is None or comparison.deleted:
        raise ComparisonNotFound
    return comparison


def _actor(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, org_id=principal.org_id)
