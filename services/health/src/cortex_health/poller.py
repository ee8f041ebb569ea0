"""Checks every registered upstream each interval, concurrently, publishing each result as soon as
it is ready: one slow or dead upstream never delays the others."""

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import httpx
from nats.js.kv import KeyValue

from cortex_contracts.envelope import utcnow
from cortex_contracts.events.models import ModelHealth, Upstream
from cortex_contracts.messages.health import RefreshedHealth, RefreshHealth, RefreshHealthReply
from cortex_contracts.topology import model_key
from cortex_health import metrics
from cortex_health.ledger import HealthLedger
from cortex_health.probes import probe
from cortex_health.registry import Registry, parse_upstream
from cortex_health.settings import Settings

log = logging.getLogger(__name__)

REPLY_MARGIN = 0.8  # share of the caller's budget spent probing; the rest carries the reply


class HealthPoller:
    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        health_kv: KeyValue,
        registry_kv: KeyValue,
    ) -> None:
        self.settings = settings
        self.client = client
        self.health_kv = health_kv
        self.registry_kv = registry_kv
        self.ledger = HealthLedger(expires_after_sec=settings.ttl_sec)
        self.registry = Registry(on_changed=self.check_soon, on_removed=self.forget)
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- the schedule -----------------------------------------------------------------------
    async def run(self) -> None:
        """Tick every HEALTH_POLL_SEC on a fixed schedule; probes run beside it, never in it."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            self.poll_all()
            next_tick += self.settings.poll_sec
            if next_tick < loop.time():  # the process was paused: skip the missed ticks
                next_tick = loop.time() + self.settings.poll_sec
            await asyncio.sleep(next_tick - loop.time())

    def poll_all(self) -> None:
        checked_at = utcnow()  # one stamp per round: results of a round are comparable
        for upstream in self.registry.all():
            self._check_in_background(upstream, checked_at)

    def check_soon(self, upstream: Upstream) -> None:
        """A new or edited registration is checked at once, not at the next tick."""
        self._check_in_background(upstream, utcnow())

    def _check_in_background(self, upstream: Upstream, checked_at: datetime) -> None:
        name = upstream.served_model_name
        if name in self._in_flight:  # still probing since the last tick
            return
        self._in_flight.add(name)

        async def check_once() -> None:
            try:
                await self.check(upstream, checked_at)
            finally:
                self._in_flight.discard(name)

        self._spawn(check_once())

    def forget(self, name: str) -> None:
        """A removed upstream leaves the health bucket at once (not after the TTL)."""
        self.ledger.forget(name)
        _drop_metrics(name)
        self._spawn(self._delete_health(name))

    # --- one check --------------------------------------------------------------------------
    async def check(
        self, upstream: Upstream, checked_at: datetime, timeout: float | None = None
    ) -> RefreshedHealth:
        name = upstream.served_model_name
        result = await probe(
            self.client,
            upstream,
            timeout or self.settings.probe_timeout_sec,
            want_context=self.ledger.needs_context(name),
        )
        previous = self.ledger.get(name)
        health = self.ledger.next_health(upstream, result, checked_at)
        _count(health)
        if previous is None or previous.status != health.status:
            log.info("%s is %s (%s)", name, health.status, health.last_error or "ok")
        if self.registry.get(name) is None and not await self._registered(name):
            return RefreshedHealth(health=health)  # removed while we probed: publish nothing
        return RefreshedHealth(health=health, revision=await self._publish(health))

    async def _publish(self, health: ModelHealth) -> int | None:
        try:
            revision = await self.health_kv.put(
                model_key(health.served_model_name), health.model_dump_json().encode()
            )
        except Exception as error:  # NATS away: the next round publishes again
            metrics.PUBLISH_FAILURES.inc()
            log.warning("publishing health of %s failed: %s", health.served_model_name, error)
            return None
        self.ledger.record(health, revision)
        return revision

    async def _delete_health(self, name: str) -> None:
        try:
            await self.health_kv.delete(model_key(name))
        except Exception as error:
            log.warning("removing health of %s failed: %s", name, error)

    # --- refresh on request -----------------------------------------------------------------
    async def refresh(self, request: RefreshHealth) -> RefreshHealthReply:
        metrics.REFRESHES.inc()
        names = request.models
        if names is None:
            names = sorted(u.served_model_name for u in self.registry.all())
        upstreams: list[Upstream] = []
        unknown: list[str] = []
        for name in dict.fromkeys(names):
            upstream = self.registry.get(name) or await self._lookup(name)
            if upstream is None:
                unknown.append(name)
            else:
                upstreams.append(upstream)
        timeout = self.settings.probe_timeout_sec
        if request.timeout_sec is not None:
            timeout = min(timeout, request.timeout_sec * REPLY_MARGIN)
        checked_at = utcnow()
        results = await asyncio.gather(*(self.check(u, checked_at, timeout) for u in upstreams))
        return RefreshHealthReply(results=list(results), unknown=unknown)

    async def _lookup(self, name: str) -> Upstream | None:
        """Straight from the bucket: a registration newer than our copy is still found."""
        try:
            entry = await self.registry_kv.get(model_key(name))
        except Exception:  # missing key or deleted
            return None
        return parse_upstream(entry.value) if entry.value else None

    async def _registered(self, name: str) -> bool:
        return await self._lookup(name) is not None

    # --- lifecycle --------------------------------------------------------------------------
    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _count(health: ModelHealth) -> None:
    name = health.served_model_name
    metrics.PROBES.labels(name, health.status).inc()
    metrics.UPSTREAM_UP.labels(name).set(1 if health.status == "healthy" else 0)
    if health.latency_ms is not None:
        metrics.PROBE_SECONDS.labels(name).observe(health.latency_ms / 1000)


def _drop_metrics(name: str) -> None:
    with contextlib.suppress(KeyError):  # never checked
        metrics.UPSTREAM_UP.remove(name)
