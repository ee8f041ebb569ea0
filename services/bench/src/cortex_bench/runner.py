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
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from cortex_bench import stats
from cortex_bench.driver import Budget, Driver, Target
from cortex_bench.engine import engine_info, sample_metrics
from cortex_bench.limits import read_limits
from cortex_bench.projection import Projection
from cortex_bench.prompts import prompt_stream
from cortex_bench.settings import Settings
from cortex_contracts.envelope import Event
from cortex_contracts.events.bench import (
    BenchEngineSampled,
    BenchLevelRecorded,
    BenchRunFinished,
    BenchRunRequested,
    BenchRunStarted,
    BenchSamplesRecorded,
    EngineSample,
    LevelStats,
    RequestSample,
    RunSettings,
    subject_kind,
)
from cortex_contracts.events.models import Upstream
from cortex_contracts.messages.bench import BenchLimits, Progress
from cortex_contracts.topology import Topology, model_key
from cortex_runtime.jetstream import publish_event
from cortex_runtime.parking import Parking

log = logging.getLogger(__name__)

SLICE_BYTES = 256 * 1024  # raw samples per event, well under a NATS message
PROGRESS_EVERY_SEC = 0.5
ENGINE_FLUSH_EVERY = 30  # engine samples per event


def credential_key(run_id: str) -> str:
    return f"credential.{run_id}"


def progress_key(run_id: str) -> str:
    return f"progress.{run_id}"


@dataclass
class Level:
    index: int
    load: float
    samples: list[RequestSample] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


class Cancelled(Exception):
    pass


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
            await self.execute(request, cancel)
        except Exception as error:
            log.exception("run %s failed", run_id)
            await self.finish(request, "failed", error=f"{type(error).__name__}: {error}"[:300])
        finally:
            self.cancels.pop(run_id, None)
            with contextlib.suppress(Exception):
                await self.buckets.live.delete(credential_key(run_id))

    # --- one run ------------------------------------------------------------------------------
    async def execute(self, request: BenchRunRequested, cancel: asyncio.Event) -> None:
        run_id, settings = request.aggregate_id, request.settings
        api_key = await self._credential(run_id)
        upstream = await self._upstream(settings.model)
        if api_key is None or upstream is None:
            what = "credential" if api_key is None else "model registration"
            await self.finish(request, "failed", error=f"the run's {what} is gone")
            return
        limits = await read_limits(self.buckets.limits)
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.request_timeout_sec, connect=10.0),
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=limits.max_concurrency
            ),
        ) as client:
            info = await engine_info(client, upstream)
            await self._publish(
                request,
                BenchRunStarted,
                replica=self.settings.replica,
                engine_version=info.version,
                max_context=info.max_context,
                engine_metrics=info.has_metrics,
            )
            run = _Run(
                self,
                request,
                Driver(client, Target(self.settings.gateway_url, api_key, settings)),
                limits,
                cancel,
            )
            sampler = (
                asyncio.create_task(run.sample_engine(client, upstream))
                if info.has_metrics
                else None
            )
            reporter = asyncio.create_task(run.report_progress())
            try:
                outcome = await run.levels()
            finally:
                for task in (sampler, reporter):
                    if task is not None:
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                await run.flush_engine()
        await self.finish(
            request,
            outcome.status,
            error=outcome.error,
            slo_met=outcome.slo_met,
            best_load=outcome.best_load,
        )

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


@dataclass
class Outcome:
    status: str
    error: str | None = None
    slo_met: bool | None = None
    best_load: float | None = None


class _Run:
    """The levels of one run and what they report while they go."""

    def __init__(
        self,
        runner: Runner,
        request: BenchRunRequested,
        driver: Driver,
        limits: BenchLimits,
        cancel: asyncio.Event,
    ) -> None:
        self.runner = runner
        self.request = request
        self.settings: RunSettings = request.settings
        self.driver = driver
        self.limits = limits
        self.cancel = cancel
        self.prompts = prompt_stream(self.settings.prompt, self.settings.seed)
        self.rng = random.Random(self.settings.seed)
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + limits.max_duration_sec
        self.requests_left = limits.max_requests
        self.current: Level | None = None
        self.recorded = 0
        self.engine: list[EngineSample] = []

    async def levels(self) -> Outcome:
        s = self.settings
        try:
            if s.shape == "slo_search":
                return await self.search(int(s.levels[0]), int(s.levels[1]))
            passed: list[bool | None] = []
            for index, load in enumerate(s.levels):
                level = await self.measure(index, load)
                passed.append(level.slo_passed)
            met = all(passed) if s.slo.given else None
            return Outcome("complete", slo_met=met)
        except Cancelled:
            return Outcome("cancelled")

    async def search(self, low: int, high: int) -> Outcome:
        """The largest concurrency in [low, high] whose SLO attainment passes, by bisection
        (attainment falls as concurrency rises)."""
        index = 0

        async def passes(concurrency: int) -> bool:
            nonlocal index
            level = await self.measure(index, concurrency)
            index += 1
            return bool(level.slo_passed)

        if not await passes(low):
            return Outcome("complete", slo_met=False)
        if await passes(high):
            return Outcome("complete", slo_met=True, best_load=high)
        while high - low > 1:
            middle = (low + high) // 2
            if await passes(middle):
                low = middle
            else:
                high = middle
        return Outcome("complete", slo_met=True, best_load=low)

    async def measure(self, index: int, load: float) -> BenchLevelRecorded:
        s = self.settings
        level = self.current = Level(index, load)
        until = None
        if s.duration_per_level_sec is not None:
            until = level.started + s.duration_per_level_sec
        until = min(until or self.deadline, self.deadline)
        requests = min(s.requests_per_level or self.requests_left, self.requests_left)
        budget = Budget(requests, until)
        if s.shape == "rate":
            work: Awaitable[None] = self.driver.open_loop(
                self.prompts,
                load,
                self.limits.max_concurrency,
                self.rng,
                budget,
                level.samples,
                self._seen,
            )
        else:
            concurrency = min(int(load), self.limits.max_concurrency)
            work = self.driver.closed_loop(
                self.prompts, concurrency, budget, level.samples, self._seen
            )
        cancelled = not await _unless(self.cancel, work)
        self.requests_left -= len(level.samples)
        recorded = await self.record(level, partial=cancelled)
        if cancelled:
            raise Cancelled
        return recorded

    def _seen(self, _: RequestSample) -> None:
        self.recorded += 1

    async def record(self, level: Level, partial: bool) -> BenchLevelRecorded:
        s = self.settings
        for part in _slices(level.samples):
            await self.runner._publish(
                self.request, BenchSamplesRecorded, level_index=level.index, samples=part
            )
        figures: LevelStats = stats.level_stats(level.samples, s.slo)
        passed = None
        if s.slo.given and figures.slo_attainment is not None:
            passed = figures.slo_attainment >= s.slo_attainment
        event = BenchLevelRecorded(
            aggregate_id=self.request.aggregate_id,
            actor=self.request.actor,
            level_index=level.index,
            shape=s.shape,
            load=level.load,
            stats=figures,
            partial=partial,
            slo_passed=passed,
        )
        await self.runner.publish(event)
        return event

    # --- beside the load ------------------------------------------------------------------
    async def sample_engine(self, client: httpx.AsyncClient, upstream: Upstream) -> None:
        while True:
            sample = await sample_metrics(client, upstream, self.t0)
            if sample is not None:
                self.engine.append(sample)
            if len(self.engine) >= ENGINE_FLUSH_EVERY:
                await self.flush_engine()
            await asyncio.sleep(self.runner.settings.metrics_interval_sec)

    async def flush_engine(self) -> None:
        samples, self.engine = self.engine, []
        if samples:
            await self.runner._publish(self.request, BenchEngineSampled, samples=samples)

    async def report_progress(self) -> None:
        key = progress_key(self.request.aggregate_id)
        while True:
            with contextlib.suppress(Exception):  # progress is a nicety: never fail the run
                await self.runner.buckets.live.put(key, self.progress().model_dump_json().encode())
            await asyncio.sleep(PROGRESS_EVERY_SEC)

    def progress(self) -> Progress:
        s, level = self.settings, self.current
        if level is None:
            return Progress()
        levels = None if s.shape == "slo_search" else len(s.levels)
        done = len(level.samples)
        elapsed = time.perf_counter() - level.started
        if s.requests_per_level is not None:
            inside = done / s.requests_per_level
        else:
            inside = elapsed / (s.duration_per_level_sec or 1)
        fraction = (level.index + min(inside, 1.0)) / levels if levels else 0.0
        return Progress(
            level=level.index,
            levels=levels,
            done=done,
            total=s.requests_per_level,
            elapsed_s=round(elapsed, 2),
            fraction=min(max(fraction, 0.0), 1.0),
        )


async def _unless(cancel: asyncio.Event, work: Awaitable[None]) -> bool:
    """Runs `work` unless `cancel` is set first (then `work` is cancelled at once): True when
    the work ran to its end."""
    load = asyncio.ensure_future(work)
    stop = asyncio.create_task(cancel.wait())
    try:
        await asyncio.wait({load, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if load.done():
        load.result()  # a failure of the load itself is the run's failure
        return True
    load.cancel()
    await asyncio.gather(load, return_exceptions=True)
    return False


def _slices(samples: list[RequestSample]) -> list[list[RequestSample]]:
    parts: list[list[RequestSample]] = [[]]
    size = 0
    for sample in samples:
        weight = len(sample.model_dump_json())
        if parts[-1] and size + weight > SLICE_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(sample)
        size += weight
    return [part for part in parts if part]


async def _keep_in_progress(msg: Msg, every: float = 5.0) -> None:
    """The owner holds the request while it runs (ack wait is longer than `every`)."""
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(Exception):
            await msg.in_progress()
