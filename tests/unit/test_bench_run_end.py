"""A run always ends: `complete` when its levels are done even if a task beside the load does not
stop at the first cancel, `failed` with its reason when it is still going after its time limit
(the model is free again for the next run). The bench's runner with its NATS and HTTP sides
faked: the load and the engine answer at once through httpx's MockTransport."""

import asyncio
import json
import logging
import sys
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from cortex_bench.limits import LIMITS_KEY
from cortex_bench.projection import Projection
from cortex_bench.runner import Buckets, Runner, credential_key
from cortex_bench.settings import Settings
from cortex_bench.tasks import stop_task
from cortex_contracts.envelope import Event
from cortex_contracts.events.bench import (
    BenchEngineSampled,
    BenchLevelRecorded,
    BenchRunFinished,
    BenchRunRequested,
    BenchRunStarted,
    RunSettings,
)
from cortex_contracts.events.models import Upstream
from cortex_contracts.messages.bench import BenchLimits
from cortex_contracts.topology import Topology, model_key
from cortex_runtime.parking import Parking

pytestmark = pytest.mark.unit

MODEL = "sim-model"
ENGINE = "engine.test"
GATEWAY = "gateway.test"
METRICS = f'vllm:num_requests_running{{model_name="{MODEL}"}} 1.0\n'
BOUND_SEC = 20.0  # a run that does not end fails the test instead of hanging it


class FakeKv:
    def __init__(self, entries: dict[str, bytes]) -> None:
        self.entries = entries

    async def get(self, key: str) -> SimpleNamespace:
        if key not in self.entries:
            raise KeyNotFoundError
        return SimpleNamespace(value=self.entries[key])

    async def put(self, key: str, value: bytes) -> int:
        self.entries[key] = value
        return 1

    async def delete(self, key: str) -> bool:
        self.entries.pop(key, None)
        return True


def answer(request: httpx.Request) -> httpx.Response:
    """The gateway's stream and the engine's /version, /v1/models and /metrics."""
    if request.url.host == GATEWAY:
        chunks = [
            {"choices": [{"delta": {"content": "Hello"}}]},
            {"choices": [{"delta": {"content": " there"}}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        ]
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
    if request.url.path == "/version":
        return httpx.Response(200, json={"version": "0.test"})
    if request.url.path == "/v1/models":
        return httpx.Response(200, json={"data": [{"id": MODEL, "max_model_len": 4096}]})
    if request.url.path == "/metrics":
        return httpx.Response(200, text=METRICS)
    return httpx.Response(404)


class FakeRunner(Runner):
    """Publishes into a list; the HTTP client answers through `transport`."""

    def __init__(self, transport: httpx.AsyncBaseTransport, limits: BenchLimits, **env: Any):
        settings = Settings(
            gateway_url=f"http://{GATEWAY}", metrics_interval_sec=0.001, replica="test", **env
        )
        buckets = Buckets(
            registry=_kv({model_key(MODEL): _upstream()}),
            live=_kv({credential_key(RUN): b"ck_test"}),
            limits=_kv({LIMITS_KEY: limits.model_dump_json().encode()}),
        )
        projection = Projection()
        projection.apply(REQUEST)
        super().__init__(
            settings,
            cast(JetStreamContext, None),
            Topology(prefix="t"),
            buckets,
            projection,
            cast(Parking, None),
        )
        self.transport = transport
        self.events: list[Event] = []

    def _client(self, limits: BenchLimits) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport)

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    def finished(self) -> list[BenchRunFinished]:
        return [e for e in self.events if isinstance(e, BenchRunFinished)]


RUN = "run-1"
REQUEST = BenchRunRequested(
    aggregate_id=RUN,
    settings=RunSettings(model=MODEL, levels=[1, 2], requests_per_level=2, output_tokens=2),
    engine_type="vllm",
    gateway_version="test",
)


def _kv(entries: dict[str, bytes]) -> KeyValue:
    return cast(KeyValue, FakeKv(entries))


def _upstream() -> bytes:
    upstream = Upstream(served_model_name=MODEL, base_url=f"http://{ENGINE}/v1", engine_type="vllm")
    return upstream.model_dump_json().encode()


def _side_tasks() -> list[asyncio.Task[Any]]:
    """What a run leaves running: its sampler, progress reporter, load (tasks named by run)."""
    return [t for t in asyncio.all_tasks() if RUN in t.get_name()]


class RacingRunner(FakeRunner):
    """The race seen in CI: the engine sampler is publishing its samples (a NATS request, whose
    reply nats-py awaits with asyncio.wait_for) when the last level is recorded; the sampler's
    reply arrives just as the run ends and cancels the sampler."""

    def __init__(self) -> None:
        super().__init__(httpx.MockTransport(answer), BenchLimits())
        self.reply: asyncio.Future[None] | None = None
        self.sampler_waits = asyncio.Event()
        self.swallowed = False

    async def publish(self, event: Event) -> None:
        await super().publish(event)
        if isinstance(event, BenchEngineSampled) and self.reply is None:
            self.reply = asyncio.get_running_loop().create_future()
            self.sampler_waits.set()
            await asyncio.wait_for(self.reply, 5.0)  # as nats-py's request does
            task = asyncio.current_task()
            self.swallowed = task is not None and task.cancelling() > 0
        elif isinstance(event, BenchLevelRecorded) and event.level_index == 1:
            await self.sampler_waits.wait()
            assert self.reply is not None
            self.reply.set_result(None)  # the sampler's reply is in; the run goes on to its end


async def test_a_sampler_that_survives_its_cancel_does_not_keep_the_run_running() -> None:
    runner = RacingRunner()
    async with asyncio.timeout(BOUND_SEC):
        await runner.take(REQUEST)
    if sys.version_info < (3, 12):  # the race really happened: the cancel was swallowed once
        assert runner.swallowed
    assert [f.status for f in runner.finished()] == ["complete"]
    assert [type(e) for e in runner.events].count(BenchLevelRecorded) == 2
    assert not _side_tasks()  # the sampler was cancelled again and stopped


async def test_a_run_still_going_after_its_time_limit_fails_and_stops_its_load() -> None:
    aborted = asyncio.Event()

    async def never_answers(request: httpx.Request) -> httpx.Response:
        if request.url.host != GATEWAY:
            return answer(request)
        try:
            await asyncio.Event().wait()
        finally:
            aborted.set()
        raise AssertionError("unreachable")

    runner = FakeRunner(
        httpx.MockTransport(never_answers),
        BenchLimits(max_duration_sec=0.2),
        run_overtime_sec=0.2,
    )
    async with asyncio.timeout(BOUND_SEC):
        await runner.take(REQUEST)
    assert any(isinstance(e, BenchRunStarted) for e in runner.events)
    [finished] = runner.finished()
    assert finished.status == "failed"
    assert finished.error is not None and "still going 0.2 s after its time limit" in (
        finished.error
    )
    assert aborted.is_set()  # the request in flight was aborted
    assert not _side_tasks()
    assert RUN not in runner.cancels


async def test_stopping_a_task_cancels_it_again_and_gives_up_after_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def swallows(times: int | None) -> None:
        """Goes on after `times` cancels (None: until released), as a task whose cancel lands on
        a NATS reply in Python 3.11's asyncio.wait_for."""
        swallowed = 0
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed += 1
                if release.is_set() or (times is not None and swallowed > times):
                    raise

    twice = asyncio.create_task(swallows(2))
    await asyncio.sleep(0)
    assert await stop_task(twice, "twice")
    assert twice.cancelled()

    stubborn = asyncio.create_task(swallows(None))
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        assert not await stop_task(stubborn, "stubborn", within=0.3)
    assert "stubborn did not stop within 0.3 s" in caplog.text
    assert not stubborn.done()
    release.set()
    assert await stop_task(stubborn, "stubborn")
