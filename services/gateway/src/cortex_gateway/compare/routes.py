"""The owner's comparison API (/v1/comparisons, cookie auth) and the arena leaderboards
(/v1/leaderboard over the user's own votes, /admin/leaderboard over everyone's)."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from cortex_contracts.events.chat import UNTITLED
from cortex_contracts.events.compare import pane_label
from cortex_contracts.messages.compare import ComparisonPage, ListComparisons, ListVotes, VotePage
from cortex_contracts.messages.sessions import GetSession, SessionView
from cortex_gateway.auth.dependencies import Admin, UserSession
from cortex_gateway.auth.principal import Principal
from cortex_gateway.chat.aggregate import last_seq_of
from cortex_gateway.chat.routes import POSITION, IdempotencyKey, known_model
from cortex_gateway.compare.aggregate import Comparison
from cortex_gateway.compare.commands import (
    CompareCommands,
    ComparisonNotFound,
    InvalidVote,
    PaneChoice,
)
from cortex_gateway.compare.leaderboard import leaderboard
from cortex_gateway.compare.views import (
    AddTurn,
    CastVote,
    ComparisonView,
    CreateComparison,
    Leaderboard,
    PaneView,
    TurnView,
    VoteView,
)
from cortex_gateway.deps import Events, EventStore, QueryClientDep, SettingsDep
from cortex_gateway.models.deps import Catalog
from cortex_gateway.openapi import ADMIN, AUTHENTICATED, STATE_CHANGING, WITH_BODY, errors
from cortex_runtime.query import QueryClient, QueryFailed

router = APIRouter(tags=["comparisons"])
PREFIX = "/v1/comparisons"
NEW_COMPARISON = "New comparison"


async def get_commands(events: Events) -> CompareCommands:
    return CompareCommands(events.js, events.topology)


Commands = Annotated[CompareCommands, Depends(get_commands)]


async def valid_comparison_id(comparison_id: str) -> str:
    """Malformed ids are simply not found (never a 422 that differs from another user's id)."""
    try:
        return str(UUID(comparison_id))
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Comparison not found.") from None


ComparisonId = Annotated[str, Depends(valid_comparison_id)]


@contextmanager
def domain_errors() -> Iterator[None]:
    try:
        yield
    except ComparisonNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Comparison not found.") from None
    except InvalidVote as bad:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=str(bad)) from None


@router.get(PREFIX, response_model=ComparisonPage, responses=errors(*AUTHENTICATED))
async def list_comparisons(
    principal: UserSession, events: Events, queries: QueryClientDep, settings: SettingsDep
) -> ComparisonPage:
    """The user's comparisons, newest activity first (the history lists them with the chats)."""
    newest = await _newest(events, principal.user_id)
    return await queries.ask_for(
        settings.topology.sessions_comparisons_list_subject,
        ListComparisons(user_id=principal.user_id, min_seq=newest),
        ComparisonPage,
        timeout=settings.query_timeout_sec,
        service="sessions",
    )


@router.post(
    PREFIX,
    status_code=status.HTTP_201_CREATED,
    response_model=ComparisonView,
    responses=errors(*STATE_CHANGING, *WITH_BODY),
)
async def create_comparison(
    body: CreateComparison,
    principal: UserSession,
    commands: Commands,
    catalog: Catalog,
    events: Events,
    queries: QueryClientDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> ComparisonView:
    """2 to 4 panes, each an ordinary chat session locked to its model (blind: shuffled, and
    the models are not named until the first vote)."""
    panes = [
        PaneChoice(known_model(catalog, pane.model_name), pane.sampling) for pane in body.panes
    ]
    comparison = await commands.create(
        principal,
        title=body.title or NEW_COMPARISON,
        blind=body.blind,
        panes=panes,
        system_prompt=body.system_prompt or None,
        history=[(message.role, message.content) for message in body.messages],
        from_session_id=str(body.from_session_id) if body.from_session_id else None,
        idempotency_key=idempotency_key,
    )
    return await _view(comparison, principal, events, queries, settings)


@router.get(
    PREFIX + "/{comparison_id}",
    response_model=ComparisonView,
    responses=errors(404, *AUTHENTICATED),
)
async def get_comparison(
    comparison_id: ComparisonId,
    principal: UserSession,
    commands: Commands,
    events: Events,
    queries: QueryClientDep,
    settings: SettingsDep,
) -> ComparisonView:
    with domain_errors():
        comparison = await commands.get(principal, comparison_id)
    return await _view(comparison, principal, events, queries, settings)


@router.delete(
    PREFIX + "/{comparison_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={204: POSITION, **errors(404, *STATE_CHANGING)},
)
async def delete_comparison(
    comparison_id: ComparisonId, principal: UserSession, commands: Commands
) -> Response:
    """The comparison, its votes and its panes' chats."""
    with domain_errors():
        await commands.delete(principal, comparison_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    PREFIX + "/{comparison_id}/turns",
    status_code=status.HTTP_201_CREATED,
    response_model=TurnView,
    responses=errors(404, *STATE_CHANGING, *WITH_BODY),
)
async def add_turn(
    comparison_id: ComparisonId, body: AddTurn, principal: UserSession, commands: Commands
) -> TurnView:
    """A prompt sent to every pane (then each pane's answer: POST .../panes/{pane}/completions)."""
    with domain_errors():
        _, turn = await commands.add_turn(principal, comparison_id, body.prompt, body.sampling)
    return TurnView(turn=turn.turn, prompt=turn.prompt)


@router.post(
    PREFIX + "/{comparison_id}/votes",
    status_code=status.HTTP_201_CREATED,
    response_model=ComparisonView,
    responses=errors(404, *STATE_CHANGING, *WITH_BODY),
)
async def cast_vote(
    comparison_id: ComparisonId,
    body: CastVote,
    principal: UserSession,
    commands: Commands,
    events: Events,
    queries: QueryClientDep,
    settings: SettingsDep,
) -> ComparisonView:
    """The preferred answer of a turn (or a tie, or all bad); a new vote on a turn replaces the
    old one. Answers the comparison, its models now named."""
    with domain_errors():
        comparison = await commands.vote(
            principal, comparison_id, turn=body.turn, choice=body.choice, pane=body.pane
        )
    return await _view(comparison, principal, events, queries, settings)


@router.get("/v1/leaderboard", response_model=Leaderboard, responses=errors(*AUTHENTICATED))
async def user_leaderboard(
    principal: UserSession,
    events: Events,
    queries: QueryClientDep,
    settings: SettingsDep,
    blind_only: Annotated[bool, Query(description="only votes cast while blind")] = False,
) -> Leaderboard:
    """Bradley-Terry ratings (Elo scale, 95 % bootstrap intervals) from the user's own votes,
    and the raw win/tie/loss counts per pair of models."""
    newest = await _newest(events, principal.user_id)
    votes = await _votes(queries, settings, ListVotes(user_id=principal.user_id, min_seq=newest))
    return leaderboard(votes.votes, "user", blind_only)


@router.get("/admin/leaderboard", response_model=Leaderboard, responses=errors(*ADMIN))
async def admin_leaderboard(
    _: Admin,
    queries: QueryClientDep,
    settings: SettingsDep,
    blind_only: Annotated[bool, Query(description="only votes cast while blind")] = False,
) -> Leaderboard:
    """The leaderboard over every user's votes."""
    votes = await _votes(queries, settings, ListVotes(user_id=None))
    return leaderboard(votes.votes, "all", blind_only)


async def _votes(queries: QueryClient, settings: SettingsDep, query: ListVotes) -> VotePage:
    return await queries.ask_for(
        settings.topology.sessions_comparisons_votes_subject,
        query,
        VotePage,
        timeout=settings.query_timeout_sec,
        service="sessions",
    )


async def _newest(events: EventStore, user_id: str) -> int:
    return await last_seq_of(
        events.js, events.topology.compare_stream, events.topology.compare_user_subjects(user_id)
    )


async def _view(
    comparison: Comparison,
    principal: Principal,
    events: EventStore,
    queries: QueryClient,
    settings: SettingsDep,
) -> ComparisonView:
    created = comparison.created
    hidden = comparison.hidden
    sessions = await asyncio.gather(
        *(_pane_session(p.session_id, principal, events, queries, settings) for p in created.panes)
    )
    panes = []
    for index, (pane, session) in enumerate(zip(created.panes, sessions, strict=True)):
        messages = session.messages if session else []
        if hidden:  # the recorded metrics, and the inspector's raw exchange, name the model
            messages = [
                m.model_copy(update={"metrics_json": _unnamed(m.metrics_json)}) for m in messages
            ]
        panes.append(
            PaneView(
                index=index,
                label=pane_label(index),
                session_id=pane.session_id,
                model_name=None if hidden else pane.model_name,
                engine_type=None if hidden else pane.engine_type,
                sampling=pane.sampling,
                messages=messages,
            )
        )
    turns = [
        TurnView(
            turn=turn.turn,
            prompt=turn.prompt,
            vote=_vote_view(comparison, turn.turn),
        )
        for turn in comparison.turns
    ]
    latest = max([created.occurred_at, *(t.occurred_at for t in comparison.turns)])
    return ComparisonView(
        id=comparison.id,
        title=created.title or UNTITLED,
        blind=created.blind,
        hidden=hidden,
        system_prompt=created.system_prompt,
        from_session_id=created.from_session_id,
        created_at=created.occurred_at,
        updated_at=latest,
        panes=panes,
        turns=turns,
    )


def _vote_view(comparison: Comparison, turn: int) -> VoteView | None:
    vote = comparison.votes.get(turn)
    if vote is None:
        return None
    return VoteView(turn=turn, choice=vote.choice, pane=vote.pane, cast_at=vote.occurred_at)


#: what a pane's recorded metrics hold that names its model (`inspect`: the exact request, the
#: response head and chunks, `system_fingerprint`; shown once the comparison is revealed)
NAMING_METRICS = ("model", "engine_type", "inspect")


def _unnamed(metrics: dict[str, object] | None) -> dict[str, object] | None:
    if metrics is None:
        return None
    return {key: value for key, value in metrics.items() if key not in NAMING_METRICS}


async def _pane_session(
    session_id: str,
    principal: Principal,
    events: EventStore,
    queries: QueryClient,
    settings: SettingsDep,
) -> SessionView | None:
    newest = await last_seq_of(
        events.js,
        events.topology.chat_stream,
        events.topology.chat_subject(principal.user_id, session_id),
    )
    if newest == 0:
        return None
    try:
        return await queries.ask_for(
            settings.topology.sessions_get_subject,
            GetSession(user_id=principal.user_id, session_id=session_id, min_seq=newest),
            SessionView,
            timeout=settings.query_timeout_sec,
            service="sessions",
        )
    except QueryFailed as failed:
        if failed.reply.status == status.HTTP_404_NOT_FOUND:  # deleted meanwhile
            return None
        raise
