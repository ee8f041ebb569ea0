"""Retention of chat content: how long chats are kept after their last activity, for everyone
and per organization (off by default), and the scheduled run that erases older ones.

The policy is an event-sourced setting: every change is the audit event `retention.changed`
(carrying the whole policy), and the retention bucket holds its current value (the view every
gateway reads). A run:

1. groups the users by the limit their organization's policy gives them;
2. asks the sessions service for each group's chats quiet since before the cutoff (oldest first,
   at most MAX_STALE_CHATS a run: the next run takes the rest);
3. records the audit event `retention.applied` (the policy, how many chats of how many users),
   then publishes one `ChatsErased` event: the sessions service erases those chats as it erases a
   deleted account's (docs/audit.md).

Every gateway process runs the schedule, and one of them wins each turn: the bucket's `last_run`
key is updated only if nobody updated it since it was read (a compare-and-set on its revision).
"""

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.events.erasure import ChatsErased, ErasedChats
from cortex_contracts.messages.retention import (
    MAX_STALE_CHATS,
    MAX_STALE_USERS,
    FindStaleChats,
    StaleChat,
    StaleChats,
)
from cortex_gateway import audit
from cortex_gateway.deps import EventStore, from_app_state
from cortex_gateway.tables import users
from cortex_runtime.jetstream import publish_event
from cortex_runtime.kv import ensure_bucket
from cortex_runtime.query import QueryClient

log = logging.getLogger(__name__)

POLICY_KEY = "policy"
LAST_RUN_KEY = "last_run"
MAX_TICK_SEC = 30.0  # how often a gateway looks whether a run is due
STALE_QUERY_TIMEOUT_SEC = 30.0
MAX_DAYS = 36_500


class RetentionPolicy(BaseModel):
    default_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAYS,
        description="days a chat is kept after its last activity; null: kept forever",
    )
    org_days: dict[str, int | None] = Field(
        default_factory=dict,
        description="per organization id, its own limit in days (null: kept forever), "
        "in place of default_days",
    )

    def days_for(self, org_id: str) -> int | None:
        return self.org_days.get(org_id, self.default_days)

    @property
    def off(self) -> bool:
        return self.default_days is None and all(d is None for d in self.org_days.values())


class RetentionRun(BaseModel):
    run_id: str
    ran_at: datetime
    chats_erased: int
    users: int


class Retention:
    """The policy's view and the schedule of one gateway process."""

    def __init__(
        self,
        database: AsyncEngine,
        events: EventStore,
        queries: QueryClient,
        interval_sec: float,
    ) -> None:
        self.database = database
        self.events = events
        self.queries = queries
        self.interval_sec = interval_sec
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._kv = await ensure_bucket(
            self.events.js, self.events.topology.retention_bucket_config()
        )
        self._task = asyncio.create_task(self._schedule())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "Retention.start() first"
        return self._kv

    async def policy(self) -> RetentionPolicy:
        try:
            entry = await self.kv.get(POLICY_KEY)
            return RetentionPolicy.model_validate_json(entry.value or b"{}")
        except (KeyNotFoundError, ValidationError):
            return RetentionPolicy()

    async def set_policy(self, policy: RetentionPolicy) -> None:
        """After its audit event (the caller records it first)."""
        await self.kv.put(POLICY_KEY, policy.model_dump_json().encode())

    async def last_run_at(self) -> datetime | None:
        try:
            entry = await self.kv.get(LAST_RUN_KEY)
        except KeyNotFoundError:
            return None
        return datetime.fromisoformat((entry.value or b"").decode()) if entry.value else None

    async def _schedule(self) -> None:
        tick = min(self.interval_sec, MAX_TICK_SEC)
        while True:
            await asyncio.sleep(tick)
            try:
                policy = await self.policy()
                if not policy.off and await self._claim_turn():
                    await self.run(policy)
            except Exception:  # NATS or the database away: the next tick tries again
                log.exception("retention run failed")

    async def _claim_turn(self) -> bool:
        """True for exactly one process per interval."""
        now = datetime.now(UTC)
        try:
            entry = await self.kv.get(LAST_RUN_KEY)
        except KeyNotFoundError:
            entry = None
        stamp = now.isoformat().encode()
        try:
            if entry is None or not entry.value:
                await self.kv.create(LAST_RUN_KEY, stamp)
                return True
            last = datetime.fromisoformat(entry.value.decode())
            if now - last < timedelta(seconds=self.interval_sec):
                return False
            await self.kv.update(LAST_RUN_KEY, stamp, last=entry.revision)
        except (KeyWrongLastSequenceError, BadRequestError):
            return False  # another process took this turn
        return True

    async def run(self, policy: RetentionPolicy | None = None) -> RetentionRun:
        """One run now (the schedule's, or an administrator's)."""
        policy = policy or await self.policy()
        started = datetime.now(UTC)
        stale = await self._stale_chats(policy, started)
        by_user: dict[str, list[uuid.UUID]] = defaultdict(list)
        for chat in stale:
            by_user[chat.user_id].append(uuid.UUID(chat.session_id))
        run = RetentionRun(
            run_id=str(uuid.uuid4()), ran_at=started, chats_erased=len(stale), users=len(by_user)
        )
        await audit.record(
            self.events,
            "retention.applied",
            subject_id=run.run_id,
            chats_erased=run.chats_erased,
            users=run.users,
            policy=policy.model_dump(),
        )
        if by_user:
            erasure = ChatsErased(
                aggregate_id=run.run_id,
                reason="retention",
                chats=[ErasedChats(user_id=u, session_ids=ids) for u, ids in by_user.items()],
            )
            await publish_event(self.events.js, self.events.topology.erasure_subject, erasure)
        log.info("retention run %s: %s chats of %s users", run.run_id, len(stale), len(by_user))
        return run

    async def _stale_chats(self, policy: RetentionPolicy, now: datetime) -> list[StaleChat]:
        if policy.off:
            return []
        async with self.database.connect() as conn:
            rows = (await conn.execute(select(users.c.id, users.c.org_id))).all()
        groups: dict[int, list[str]] = defaultdict(list)
        for user_id, org_id in rows:
            days = policy.days_for(org_id)
            if days is not None:
                groups[days].append(user_id)
        found: list[StaleChat] = []
        for days, user_ids in sorted(groups.items()):
            cutoff = now - timedelta(days=days)
            for start in range(0, len(user_ids), MAX_STALE_USERS):
                left = MAX_STALE_CHATS - len(found)
                if left <= 0:
                    return found
                query = FindStaleChats(
                    user_ids=user_ids[start : start + MAX_STALE_USERS],
                    older_than=cutoff,
                    limit=left,
                )
                reply = await self.queries.ask_for(
                    self.events.topology.sessions_stale_subject,
                    query,
                    StaleChats,
                    timeout=STALE_QUERY_TIMEOUT_SEC,
                    service="sessions",
                )
                found += reply.chats
        return found


RetentionDep = Annotated[Retention, from_app_state("retention")]
