"""Every run, folded from the bench stream in memory (each replica replays the stream at start
and follows it), for the queries. The stream is the record; this is only a view of it."""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from cortex_contracts.events.bench import (
    BenchEngineSampled,
    BenchEvent,
    BenchLevelRecorded,
    BenchRunCancelRequested,
    BenchRunFinished,
    BenchRunRequested,
    BenchRunStarted,
    BenchSamplesRecorded,
    EngineSample,
    RequestSample,
    RunStatus,
)
from cortex_contracts.messages.bench import (
    BenchRunList,
    BenchRunQuery,
    BenchRunsQuery,
    BenchRunView,
    LevelView,
    Progress,
    RunSummary,
)
from cortex_runtime.reader import StreamReader

log = logging.getLogger(__name__)
EVENT = TypeAdapter[BenchEvent](BenchEvent)
UNKNOWN_RUN_WAIT_SEC = 2.0  # a run requested a moment ago may not have reached this replica


@dataclass
class RunState:
    requested: BenchRunRequested
    started: BenchRunStarted | None = None
    levels: dict[int, BenchLevelRecorded] = field(default_factory=dict)
    samples: dict[int, list[RequestSample]] = field(default_factory=dict)
    engine: list[EngineSample] = field(default_factory=list)
    cancel_requested: bool = False
    finished: BenchRunFinished | None = None

    @property
    def status(self) -> RunStatus:
        if self.finished is not None:
            return self.finished.status
        return "running" if self.started is not None else "queued"

    def summary(self) -> RunSummary:
        r, f = self.requested, self.finished
        return RunSummary(
            id=r.aggregate_id,
            model=r.settings.model,
            shape=r.settings.shape,
            levels=r.settings.levels,
            status=self.status,
            user_id=r.actor.user_id,
            source=r.source,
            created_at=r.occurred_at,
            finished_at=f.occurred_at if f else None,
            error=f.error if f else None,
            slo_met=f.slo_met if f else None,
            best_load=f.best_load if f else None,
        )

    def view(self, include_samples: bool, progress: Progress | None) -> BenchRunView:
        levels = [
            LevelView(
                index=level.level_index,
                load=level.load,
                partial=level.partial,
                slo_passed=level.slo_passed,
                stats=level.stats,
                samples=self.samples.get(index, []) if include_samples else None,
            )
            for index, level in sorted(self.levels.items())
        ]
        return BenchRunView(
            summary=self.summary(),
            settings=self.requested.settings,
            engine_type=self.requested.engine_type,
            engine_version=self.started.engine_version if self.started else None,
            max_context=self.started.max_context if self.started else None,
            gateway_version=self.requested.gateway_version,
            replica=self.started.replica if self.started else None,
            levels=levels,
            engine_samples=self.engine,
            progress=progress if self.finished is None else None,
        )


class Projection:
    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}
        self.changed = asyncio.Condition()

    def apply(self, event: BenchEvent) -> None:
        if isinstance(event, BenchRunRequested):
            self.runs.setdefault(event.aggregate_id, RunState(event))
            return
        run = self.runs.get(event.aggregate_id)
        if run is None:
            return  # nothing without a request
        if isinstance(event, BenchRunStarted):
            run.started = event
        elif isinstance(event, BenchSamplesRecorded):
            run.samples.setdefault(event.level_index, []).extend(event.samples)
        elif isinstance(event, BenchLevelRecorded):
            run.levels[event.level_index] = event
        elif isinstance(event, BenchEngineSampled):
            run.engine.extend(event.samples)
        elif isinstance(event, BenchRunCancelRequested):
            run.cancel_requested = True
        elif isinstance(event, BenchRunFinished):
            run.finished = event

    async def follow(self, reader: StreamReader) -> None:
        await reader.start()
        try:
            while True:
                batch = await reader.take()
                for stored in batch:
                    try:
                        self.apply(EVENT.validate_json(stored.data))
                    except ValidationError as error:
                        log.warning("ignoring bench event %s: %s", stored.seq, error)
                if batch:
                    async with self.changed:
                        self.changed.notify_all()
        finally:
            with contextlib.suppress(Exception):
                await reader.stop()

    async def wait_for(self, run_id: str, timeout: float = UNKNOWN_RUN_WAIT_SEC) -> RunState | None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self.changed:
                await self.changed.wait_for(lambda: run_id in self.runs)
        return self.runs.get(run_id)

    def list(self, query: BenchRunsQuery) -> BenchRunList:
        runs = [
            run
            for run in self.runs.values()
            if (query.model is None or run.requested.settings.model == query.model)
            and (query.user_id is None or run.requested.actor.user_id == query.user_id)
        ]
        runs.sort(key=lambda run: run.requested.occurred_at, reverse=True)
        return BenchRunList(runs=[run.summary() for run in runs[: query.limit]])

    async def find(self, query: BenchRunQuery) -> RunState | None:
        run = self.runs.get(query.run_id) or await self.wait_for(query.run_id)
        if run is None or (
            query.user_id is not None and run.requested.actor.user_id != query.user_id
        ):
            return None
        return run
