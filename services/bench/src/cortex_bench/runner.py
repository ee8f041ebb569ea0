"""Runs one requested run on this replica: levels (a sweep, a rate list, or an SLO search by
bisection), engine gauges beside them, progress in the live bucket, events for everything kept.

The run requests are a durable consumer shared by the replicas, pulled one at a time: a run is
owned by the replica that pulled it, which keeps the message in progress while it runs. If that
replica dies, the request comes back to another one, which records the run as failed (a
half-measured run is not resumed). A cancel is an event on the run's subject that every replica
hears; the owner stops the load at once.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import httpx
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from cortex_bench.driver import Driver, Target
from cortex_bench.engine import engine_info
from cortex_bench.levels import Outcome, RunLevels
from cortex_bench.limits import read_limits
from cortex_bench.projection import Projection
from cortex_bench.settings import Settings
from cortex_bench.tasks import beside, stop_task
from cortex_contracts.envelope import Event
from cortex_contracts.events.bench import (
    BenchRunFinished,
    BenchRunRequested,
    BenchRunStarted,
    subject_kind,
)
from cortex_contracts.events.models import Upstream
from cortex_contracts.messages.bench import BenchLimits
from cortex_contracts.topology import Topology, model_key
from cortex_runtime.jetstream import publish_event
from cortex_runtime.parking import Parking

log = logging.getLogger(__name__)


def credential_key(run_id: str) -> str:
    return f"credential.{run_id}"


@dataclass
class Buckets:
    registry: KeyValue
    live: KeyValue
    limits: KeyValue


class Runner:
    def __init__(
        self,
        settings: Settings,
        js: JetStreamContext,
        topology: Topology,
        buckets: Buckets,
        projection: Projection,
        parking: Parking,
    ) -> None:
        self.settings = settings
        self.js = js
        self.topology = topology
        self.buckets = buckets
        self.projection = projection
        self.parking = parking
        self.cancels: dict[str, asyncio.Event] = {}

    # --- the consumer -------------------------------------------------------------------------
    async def handle_batch(self, batch: list[Msg]) -> None:
        for msg in batch:
            try:
                request = BenchRunRequested.model_validate_json(msg.data)
            except ValidationError as error:
                await self.parking.park(msg, str(error)[:300], "malformed")
                continue
            beat = asyncio.create_task(_keep_in_progress(msg))
            try:
                await self.take(request)
            finally:
                beat.cancel()
            await msg.ack()

    def cancel(self, run_id: str) -> None:
        """Heard on the run's cancel subject (every replica hears it; only the owner acts)."""
        found = self.cancels.get(run_id)
        if found is not None:
            found.set()

    async def take(self, request: BenchRunRequested) -> None:
        run_id = request.aggregate_id
        known = self.projection.runs.get(run_id) or await self.projection.wait_for(run_id, 1.0)
        if known is not None and known.finished is not None:
            return
        if known is not None and known.started is not None:
            await self.finish(request, "failed", error="the bench replica running it stopped")
            return
        if known is not None and known.cancel_requested:
            await self.finish(request, "cancelled")
            return
        cancel = self.cancels.setdefault(run_id, asyncio.Event())
        try:
            outcome = await self.watched(request, cancel)
        except Exception as error:
            log.exception("run %s failed", run_id)
            outcome = Outcome("failed", error=f"{type(error).__name__}: {error}"[:300])
        finally:
            self.cancels.pop(run_id, None)
            with contextlib.suppress(Exception):
                await self.buckets.live.delete(credential_key(run_id))
        await self.finish(
            request,
            outcome.status,
            error=outcome.error,
            slo_met=outcome.slo_met,
            best_load=outcome.best_load,
        )

    async def watched(self, request: BenchRunRequested, cancel: asyncio.Event) -> Outcome:
        """The run, under a watchdog: one still going `run_overtime_sec` after its time limit
        (the admin's max_duration_sec) is stuck; it is stopped and ends as failed, so that its
        model is free for the next run."""
        limits = await read_limits(self.buckets.limits)
        name = f"bench run {request.aggregate_id}"
        work = asyncio.create_task(self.execute(request, cancel, limits), name=name)
        overtime = self.settings.run_overtime_sec
        try:
            await asyncio.wait({work}, timeout=limits.max_duration_sec + overtime)
        finally:
            stuck = not work.done()  # or this replica stops (then the cancel goes on up)
            if stuck and await stop_task(work, name) and not work.cancelled():
                work.exception()  # ended otherwise on its way out: seen, it is failed anyway
        if not stuck:
            return work.result()
        log.error("%s still going %g s after its time limit: stopped", name, overtime)
        return Outcome(
            "failed",
            error=f"the run was still going {overtime:g} s after its time limit "
            f"({limits.max_duration_sec:g} s) and was stopped",
        )

    # --- one run ------------------------------------------------------------------------------
    async def execute(
        self, request: BenchRunRequested, cancel: asyncio.Event, limits: BenchLimits
    ) -> Outcome:
        run_id, settings = request.aggregate_id, request.settings
        api_key = await self._credential(run_id)
        upstream = await self._upstream(settings.model)
        if api_key is None or upstream is None:
            what = "credential" if api_key is None else "model registration"
            return Outcome("failed", error=f"the run's {what} is gone")
        async with self._client(limits) as client:
            info = await engine_info(client, upstream)
            await self._publish(
                request,
                BenchRunStarted,
                replica=self.settings.replica,
                engine_version=info.version,
                max_context=info.max_context,
                engine_metrics=info.has_metrics,
            )
            run = RunLevels(
                request,
                Driver(client, Target(self.settings.gateway_url, api_key, settings)),
                limits,
                cancel,
                self.publish,
                self.buckets.live,
                self.settings.metrics_interval_sec,
            )
            tasks = [beside(run.report_progress(), f"bench run {run_id}: progress reporter")]
            if info.has_metrics:
                sampler = run.sample_engine(client, upstream)
                tasks.append(beside(sampler, f"bench run {run_id}: engine sampler"))
            try:
                return await run.levels()
            finally:
                run.stopping = True
                for task in tasks:
                    task.cancel()
                for task in tasks:  # each one bounded: a task left behind is logged, not awaited
                    await stop_task(task, task.get_name())
                await run.flush_engine()

    async def finish(self, request: BenchRunRequested, status: str, **fields: object) -> None:
        await self._publish(request, BenchRunFinished, status=status, **fields)

    async def _publish(
        self, request: BenchRunRequested, kind: type[Event], **fields: object
    ) -> None:
        event = kind(aggregate_id=request.aggregate_id, actor=request.actor, **fields)
        await self.publish(event)

    async def publish(self, event: Event) -> None:
        subject = self.topology.bench_subject(event.aggregate_id, subject_kind(event))
        await publish_event(self.js, subject, event)

    def _client(self, limits: BenchLimits) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.request_timeout_sec, connect=10.0),
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=limits.max_concurrency
            ),
        )

    async def _credential(self, run_id: str) -> str | None:
        with contextlib.suppress(KeyNotFoundError):
            entry = await self.buckets.live.get(credential_key(run_id))
            return entry.value.decode() if entry.value else None
        return None

    async def _upstream(self, model: str) -> Upstream | None:
        with contextlib.suppress(KeyNotFoundError, ValidationError):
            entry = await self.buckets.registry.get(model_key(model))
            return Upstream.model_validate_json(entry.value) if entry.value else None
        return None


async def _keep_in_progress(msg: Msg, every: float = 5.0) -> None:
    """The owner holds the request while it runs (ack wait is longer than `every`)."""
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(Exception):
            await msg.in_progress()
