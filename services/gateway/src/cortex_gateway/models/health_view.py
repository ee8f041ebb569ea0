"""The gateway's in-memory view of model health, kept by watching the health bucket (no polling).

An entry counts only while fresh: for its publisher's TTL after it arrived, so a stopped health
service never leaves a stale "healthy" behind even though expired KV entries vanish silently.
Real traffic feeds a circuit breaker per model (`record_failure` / `record_success`).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js import JetStreamContext
from pydantic import ValidationError

from cortex_contracts.events.models import ModelHealth
from cortex_contracts.topology import Topology, model_name_from_key
from cortex_gateway.models.circuit_breaker import CircuitBreaker
from cortex_runtime.kv import KvEntry, follow_bucket

log = logging.getLogger(__name__)

DEFAULT_TTL_SEC = 20.0  # the owner's HEALTH_CHECK_TTL_SEC, for entries that do not say


@dataclass(frozen=True)
class _Seen:
    health: ModelHealth
    revision: int
    fresh_until: float  # monotonic


class HealthView:
    def __init__(
        self,
        topology: Topology,
        *,
        failure_threshold: int = 3,
        circuit_open_sec: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = topology.health_bucket
        self._failure_threshold = failure_threshold
        self._circuit_open_sec = circuit_open_sec
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self, js: JetStreamContext) -> None:
        self._task = asyncio.create_task(follow_bucket(js, self._bucket, self))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # --- reading ----------------------------------------------------------------------------
    def get(self, name: str) -> ModelHealth | None:
        """The latest health if still fresh, else None (unknown)."""
        seen = self._seen.get(name)
        if seen is None or seen.fresh_until <= self._clock():
            return None
        return seen.health

    def last_known(self, name: str) -> ModelHealth | None:
        """The latest health even if expired (for history on the admin page)."""
        seen = self._seen.get(name)
        return seen.health if seen else None

    def is_running(self, name: str) -> bool:
        """For the running list: fresh and healthy, circuit not open."""
        health = self.get(name)
        breaker = self._breakers.get(name)
        return (
            health is not None
            and health.status == "healthy"
            and not (breaker is not None and breaker.blocks_listing())
        )

    def is_available(self, name: str) -> bool:
        """May a completion go to this model now? In half-open state this claims the one trial."""
        health = self.get(name)
        if health is None or health.status != "healthy":
            return False
        breaker = self._breakers.get(name)
        return breaker is None or breaker.allow_request()

    # --- real traffic -----------------------------------------------------------------------
    def record_failure(self, name: str) -> None:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(self._failure_threshold, self._circuit_open_sec, self._clock)
            self._breakers[name] = breaker
        breaker.record_failure()
        if breaker.state == "open":
            log.warning("circuit open for %s after repeated upstream failures", name)

    def record_success(self, name: str) -> None:
        breaker = self._breakers.get(name)
        if breaker is not None:
            breaker.record_success()

    # --- updates ----------------------------------------------------------------------------
    def apply_result(self, health: ModelHealth, revision: int | None) -> None:
        """A result the gateway received directly (refresh-health), ahead of the watch."""
        if revision is None:  # not stored in the bucket: keep our place in its order
            current = self._seen.get(health.served_model_name)
            self._take(health, current.revision if current else 0, age_sec=0.0, force=True)
        else:
            self._take(health, revision, age_sec=0.0)

    def replace_all(self, entries: list[KvEntry]) -> None:
        """The bucket's content at (re)start of the watch: entries may be up to a TTL old."""
        now = datetime.now(UTC)
        present = set()
        for entry in entries:
            health = _parse(entry)
            if health is None:
                continue
            present.add(health.served_model_name)
            age = (now - health.checked_at).total_seconds()
            self._take(health, entry.revision, age_sec=age, force=True)
        for name in set(self._seen) - present:
            del self._seen[name]

    def apply(self, entry: KvEntry) -> None:
        if entry.value is None:
            with contextlib.suppress(ValueError):
                name = model_name_from_key(entry.key)
                current = self._seen.get(name)
                if current is not None and current.revision < entry.revision:
                    del self._seen[name]
            return
        health = _parse(entry)
        if health is not None:
            self._take(health, entry.revision, age_sec=0.0)

    def _take(
        self, health: ModelHealth, revision: int, age_sec: float, force: bool = False
    ) -> None:
        name = health.served_model_name
        current = self._seen.get(name)
        if current is not None and not force and revision < current.revision:
            return  # an older result arriving late
        ttl = health.expires_after_sec or DEFAULT_TTL_SEC
        # Clamped, so a skewed clock can shorten freshness by at most one TTL, never extend it.
        age = min(max(age_sec, 0.0), ttl)
        self._seen[name] = _Seen(health, revision, self._clock() + ttl - age)
        was_healthy = current is not None and current.health.status == "healthy"
        breaker = self._breakers.get(name)
        if breaker is not None and health.status == "healthy" and not was_healthy:
            breaker.reset()  # the model recovered: real traffic may try again


def _parse(entry: KvEntry) -> ModelHealth | None:
    if entry.value is None:
        return None
    try:
        return ModelHealth.model_validate_json(entry.value)
    except ValidationError as error:
        log.warning("ignoring an invalid health entry: %s", error)
        return None
