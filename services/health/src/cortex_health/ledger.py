"""The latest published health of every model, and how the next check extends it.

Fed by this replica's own puts and by following the health bucket, so history and consecutive
failures carry on across replicas and restarts (as long as the entry has not expired).
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from cortex_contracts.events.models import ModelHealth, Upstream
from cortex_contracts.topology import model_name_from_key
from cortex_health.probes import ProbeResult
from cortex_runtime.kv import KvEntry

log = logging.getLogger(__name__)

HISTORY_LENGTH = 20


@dataclass(frozen=True)
class Published:
    health: ModelHealth
    revision: int


class HealthLedger:
    def __init__(self, expires_after_sec: float) -> None:
        self.expires_after_sec = expires_after_sec
        self._latest: dict[str, Published] = {}
        self.loaded = asyncio.Event()  # the bucket's content has been read once

    def get(self, name: str) -> ModelHealth | None:
        found = self._latest.get(name)
        return found.health if found else None

    def next_health(
        self, upstream: Upstream, result: ProbeResult, checked_at: datetime
    ) -> ModelHealth:
        previous = self.get(upstream.served_model_name)
        failures = 0
        if result.status != "healthy":
            failures = (previous.consecutive_failures if previous else 0) + 1
        max_model_len = result.max_model_len
        if max_model_len is None and previous is not None:
            max_model_len = previous.max_model_len  # known from an earlier check
        health = ModelHealth(
            served_model_name=upstream.served_model_name,
            status=result.status,
            latency_ms=result.latency_ms,
            last_error=result.error,
            consecutive_failures=failures,
            checked_at=checked_at,
            max_model_len=max_model_len,
            expires_after_sec=self.expires_after_sec,
        )
        earlier = previous.history if previous else []
        return health.model_copy(update={"history": [health.as_check(), *earlier][:HISTORY_LENGTH]})

    def needs_context(self, name: str) -> bool:
        """Context length is fetched once per healthy spell (a reload may change it)."""
        previous = self.get(name)
        return previous is None or previous.status != "healthy" or previous.max_model_len is None

    def record(self, health: ModelHealth, revision: int) -> None:
        current = self._latest.get(health.served_model_name)
        if current is None or revision > current.revision:
            self._latest[health.served_model_name] = Published(health, revision)

    def forget(self, name: str) -> None:
        self._latest.pop(name, None)

    # --- following the health bucket --------------------------------------------------------
    def replace_all(self, entries: list[KvEntry]) -> None:
        for entry in entries:
            self.apply(entry)
        self.loaded.set()

    def apply(self, entry: KvEntry) -> None:
        if entry.value is None:
            with contextlib.suppress(ValueError):
                self.forget(model_name_from_key(entry.key))
            return
        try:
            health = ModelHealth.model_validate_json(entry.value)
        except ValidationError as error:
            log.warning("ignoring an invalid health entry: %s", error)
            return
        self.record(health, entry.revision)
