"""The levels of one run: a sweep, a rate list, or an SLO search by bisection; each level's raw
samples and figures published as it ends, the engine's gauges and the progress beside them."""

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from nats.js.kv import KeyValue

from cortex_bench import stats
from cortex_bench.driver import Budget, Driver
from cortex_bench.engine import sample_metrics
from cortex_bench.prompts import prompt_stream
from cortex_bench.tasks import stop_task
from cortex_contracts.envelope import Event
from cortex_contracts.events.bench import (
    BenchEngineSampled,
    BenchLevelRecorded,
    BenchRunRequested,
    BenchSamplesRecorded,
    EngineSample,
    LevelStats,
    RequestSample,
    RunSettings,
)
from cortex_contracts.events.models import Upstream
from cortex_contracts.messages.bench import BenchLimits, Progress

Publish = Callable[[Event], Awaitable[None]]

SLICE_BYTES = 256 * 1024  # raw samples per event, well under a NATS message
PROGRESS_EVERY_SEC = 0.5
ENGINE_FLUSH_EVERY = 30  # engine samples per event


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
class Outcome:
    status: str
    error: str | None = None
    slo_met: bool | None = None
    best_load: float | None = None


class RunLevels:
    """The levels of one run and what they report while they go."""

    def __init__(
        self,
        request: BenchRunRequested,
        driver: Driver,
        limits: BenchLimits,
        cancel: asyncio.Event,
        publish: Publish,
        live: KeyValue,
        metrics_interval_sec: float,
    ) -> None:
        self.publish = publish
        self.live = live
        self.metrics_interval_sec = metrics_interval_sec
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
        self.stopping = False  # the run is ending: the tasks beside it end at their next turn

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
        name = f"bench run {self.request.aggregate_id}: load of level {index}"
        cancelled = not await _unless(self.cancel, work, name)
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
            await self.publish(
                BenchSamplesRecorded(
                    aggregate_id=self.request.aggregate_id,
                    actor=self.request.actor,
                    level_index=level.index,
                    samples=part,
                )
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
        await self.publish(event)
        return event

    # --- beside the load ------------------------------------------------------------------
    async def sample_engine(self, client: httpx.AsyncClient, upstream: Upstream) -> None:
        while not self.stopping:
            sample = await sample_metrics(client, upstream, self.t0)
            if sample is not None:
                self.engine.append(sample)
            if len(self.engine) >= ENGINE_FLUSH_EVERY:
                await self.flush_engine()
            await asyncio.sleep(self.metrics_interval_sec)

    async def flush_engine(self) -> None:
        samples, self.engine = self.engine, []
        if samples:
            await self.publish(
                BenchEngineSampled(
                    aggregate_id=self.request.aggregate_id,
                    actor=self.request.actor,
                    samples=samples,
                )
            )

    async def report_progress(self) -> None:
        key = progress_key(self.request.aggregate_id)
        while not self.stopping:
            with contextlib.suppress(Exception):  # progress is a nicety: never fail the run
                await self.live.put(key, self.progress().model_dump_json().encode())
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


async def _unless(cancel: asyncio.Event, work: Awaitable[None], name: str) -> bool:
    """Runs `work` unless `cancel` is set first (then `work` is cancelled at once): True when
    the work ran to its end. A run stopped meanwhile (the watchdog) stops its load too."""
    load = asyncio.ensure_future(work)
    load.set_name(name)
    stop = asyncio.create_task(cancel.wait())
    ran = False
    try:
        await asyncio.wait({load, stop}, return_when=asyncio.FIRST_COMPLETED)
        ran = load.done()
    finally:
        stop.cancel()
        if not load.done():
            await stop_task(load, name)
    if ran:
        load.result()  # a failure of the load itself is the run's failure
    return ran


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
