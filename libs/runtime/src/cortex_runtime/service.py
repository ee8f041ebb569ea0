"""One service's life: settings, logging, the NATS connection, streams ensured, what it answers
and consumes, its background tasks (stopped with a grace), the ops routes, its console commands.

A service declares itself once, at import time, and keeps only its domain code:

    service = Service("usage", Settings, start, answers=(USAGE_QUERY,), consumes=(RECORDER,),
                      commands={"migrate": migrate, "rebuild": rebuild})

`start(ctx)` builds the service's objects and registers them on the `Context`: `ctx.answer(...)`
for a declared endpoint, `ctx.consume(...)` for a declared durable consumer, `ctx.run(...)` for
any other task, `ctx.on_stop(...)` for cleanup, `ctx.ready_check(...)` for /readyz. Registering
something undeclared fails at start, so the AsyncAPI document (made from the declarations) lists
exactly what runs.
"""

import argparse
import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

import uvicorn
from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from cortex_contracts.settings import NatsSettings
from cortex_contracts.topology import Topology
from cortex_runtime.config import configure_logging, dev_stack_env, load_settings
from cortex_runtime.connection import connect
from cortex_runtime.consumer import BatchHandler, DurableConsumer, consume
from cortex_runtime.jetstream import ensure_streams
from cortex_runtime.ops import Check, OpsApp
from cortex_runtime.parking import Parking
from cortex_runtime.readiness import nats_check
from cortex_runtime.responder import Endpoint, Handler, Responder

log = logging.getLogger(__name__)

S = TypeVar("S", bound=NatsSettings)
Q = TypeVar("Q", bound=BaseModel)
STOP_GRACE_SEC = 2.0
GRACEFUL_SHUTDOWN_SEC = 5


class Served(Protocol):
    host: str
    port: int


@dataclass(frozen=True)
class Consumes:
    """A durable consumer a service runs (for the AsyncAPI document and the start check)."""

    title: str
    subject: Callable[[Topology], str]
    durable: Callable[[Topology], str]
    event: Any  # the event type (or union of types) it reads
    description: str


@dataclass
class _Task:
    work: Callable[[], Coroutine[Any, Any, None]]
    cancel_at_stop: bool
    task: asyncio.Task[None] | None = None


class Context(Generic[S]):
    """What a service's `start` gets, and where it registers what it runs."""

    def __init__(self, service: "Service[S]", settings: S, nats: NatsClient) -> None:
        self.service = service
        self.settings = settings
        self.nats = nats
        self.js = nats.jetstream()
        self.topology: Topology = settings.topology
        self.stopping = asyncio.Event()  # set when the service stops: tasks finish what they hold
        # a JetStream round trip: a frozen server keeps its TCP connection
        self.checks: dict[str, Check] = {"nats": nats_check(lambda: self.nats).passes}
        self._responders: list[Responder[Any]] = []
        self._tasks: list[_Task] = []
        self._on_stop: list[Callable[[], Awaitable[object]]] = []

    def answer(self, endpoint: Endpoint[Q], handler: Handler[Q], *, workers: int = 16) -> None:
        if endpoint not in self.service.answers:
            raise ValueError(f"{endpoint.title} is not declared by {self.service.name}")
        self._responders.append(
            Responder(
                self.nats,
                endpoint.subject(self.topology),
                endpoint.request,
                handler,
                queue=self.service.name,
                workers=workers,
                service=self.service.name,
            )
        )

    def consume(
        self,
        consumer: DurableConsumer,
        handle: BatchHandler,
        *,
        wake_after: Callable[[], float | None] = lambda: None,
    ) -> None:
        if consumer.name not in {c.durable(self.topology) for c in self.service.consumes}:
            raise ValueError(f"consumer {consumer.name} is not declared by {self.service.name}")
        self.run(lambda: consume(self.nats, consumer, handle, self.stopping, wake_after=wake_after))

    def parking(self, consumer: DurableConsumer, what: str) -> Parking:
        return Parking(self.js, self.topology, consumer.name, consumer.stream, what)

    def run(
        self, work: Callable[[], Coroutine[Any, Any, None]], *, cancel_at_stop: bool = False
    ) -> None:
        """A task started once `start` returned. At stop it is cancelled at once, or given
        `STOP_GRACE_SEC` after `stopping` is set to finish what it holds."""
        self._tasks.append(_Task(work, cancel_at_stop))

    def on_stop(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Called at stop, after every task ended, in reverse order of registration."""
        self._on_stop.append(callback)

    def ready_check(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def _begin(self) -> None:
        for responder in self._responders:
            await responder.start()
        for task in self._tasks:
            task.task = asyncio.create_task(task.work())

    async def _end(self) -> None:
        for responder in self._responders:
            await responder.stop()
        self.stopping.set()
        running = [t.task for t in self._tasks if t.task is not None]
        for task in self._tasks:
            if task.cancel_at_stop and task.task is not None:
                task.task.cancel()
        if running:
            _, late = await asyncio.wait(running, timeout=STOP_GRACE_SEC)
            for each in late:
                each.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        for callback in reversed(self._on_stop):
            try:
                await callback()
            except Exception:
                log.exception("stopping %s: a cleanup step failed", self.service.name)


@dataclass
class Service(Generic[S]):
    name: str  # "sessions": console script cortex-sessions, queue group sessions
    settings: type[S]
    start: Callable[[Context[S]], Awaitable[None]]
    answers: tuple[Endpoint[Any], ...] = ()
    consumes: tuple[Consumes, ...] = ()
    commands: dict[str, Callable[[S], None]] = field(default_factory=dict)

    def main(self, argv: list[str] | None = None) -> None:
        """The console script: `cortex-<name> [serve | <command>]`."""
        parser = argparse.ArgumentParser(prog=f"cortex-{self.name}")
        parser.add_argument(
            "command", nargs="?", default="serve", choices=["serve", *self.commands]
        )
        # a command's own options (e.g. `verify --no-progress`) are its to read
        args, options = parser.parse_known_args(argv)
        if options and args.command == "serve":
            parser.error(f"unrecognized arguments: {' '.join(options)}")
        if args.command != "serve":  # a tool run beside `make dev` finds its NATS and database
            os.environ.update(dev_stack_env())
        settings = load_settings(self.settings, f"cortex-{self.name}")
        configure_logging(settings.log_level)
        if args.command == "serve":
            self.serve(settings)
        else:
            self.commands[args.command](settings)

    def serve(self, settings: S) -> None:
        served = cast(Served, settings)
        uvicorn.run(
            self.app(settings),
            host=served.host,
            port=served.port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SEC,
        )

    def app(self, settings: S) -> OpsApp:
        """The ASGI app: ops routes, with the service started and stopped in its lifespan."""
        running: dict[str, Context[S]] = {}

        async def startup() -> None:
            running["ctx"] = await self.started(settings)

        async def shutdown() -> None:
            if "ctx" in running:
                await self.stopped(running.pop("ctx"))

        def checks() -> dict[str, Check]:
            return running["ctx"].checks if "ctx" in running else {}

        return OpsApp(startup, shutdown, checks)

    async def started(self, settings: S) -> Context[S]:
        nats = await connect(settings.nats_url, f"cortex-{self.name}")
        try:
            await ensure_streams(nats.jetstream(), settings.topology)
            ctx = Context(self, settings, nats)
            await self.start(ctx)
            await ctx._begin()
        except BaseException:
            await nats.close()
            raise
        return ctx

    async def stopped(self, ctx: Context[S]) -> None:
        try:
            await ctx._end()
        finally:
            await ctx.nats.close()
