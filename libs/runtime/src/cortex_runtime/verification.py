"""Projection verify, the parts every projection service shares (docs/audit.md): the consistent
cut's NATS side, progress (a bar on stderr, or messages to the asker), the run in a thread of its
own, the responder's handler, the schedule with its audit event and metrics, the printed report.

A service supplies its `Check`: replay its stream into scratch tables up to the cut and compare
them with its live tables (`cortex_runtime.drift`).
"""

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Gauge
from tqdm import tqdm

from cortex_contracts.envelope import Actor
from cortex_contracts.events.audit import AuditRecorded
from cortex_contracts.messages.verify import ProjectionReport, VerifyProgress, VerifyProjection
from cortex_contracts.topology import Topology
from cortex_runtime.connection import connect
from cortex_runtime.jetstream import publish_event
from cortex_runtime.query import QueryClient
from cortex_runtime.responder import Endpoint

log = logging.getLogger(__name__)

PROGRESS_EVERY_SEC = 0.5
DRIFT_ROWS = Gauge(
    "cortex_projection_drift_rows",
    "Differences the last verify found between a projection and a replay of its stream",
    ["projection"],
)
VERIFIED_AT = Gauge(
    "cortex_projection_verified_timestamp_seconds",
    "When the last verify of the projection finished (Unix time)",
    ["projection"],
)


def verify_endpoint(projection: str) -> Endpoint[VerifyProjection]:
    """The `<projection>.verify` query a projection service answers."""
    return Endpoint(
        title=f"{projection}.verify query",
        subject=lambda topology: topology.verify_subject(projection),
        request=VerifyProjection,
        replies=(ProjectionReport,),
        description=f"The {projection} tables compared row by row with a replay of their stream "
        "at a consistent cut; progress goes to `progress_subject` (docs/audit.md).",
    )


class Progress(Protocol):
    async def __call__(self, done: int, total: int) -> None: ...


# (JetStream, progress, differences to list) -> the report
Check = Callable[[JetStreamContext, Progress, int], Awaitable[ProjectionReport]]


class BarProgress:
    """A progress bar on stderr (hidden with `enabled=False`)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.bar = tqdm(
            desc=label, unit=" events", unit_scale=True, disable=not enabled, file=sys.stderr
        )

    async def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class PublishedProgress:
    """`VerifyProgress` messages to the asker's subject, at most every PROGRESS_EVERY_SEC."""

    def __init__(self, nats: NatsClient, subject: str, projection: str) -> None:
        self.nats, self.subject, self.projection = nats, subject, projection
        self._last = 0.0

    async def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_SEC and done < total:
            return
        self._last = now
        message = VerifyProgress(projection=self.projection, done=done, total=total)
        await self.nats.publish(self.subject, message.model_dump_json().encode())


async def applied_floor(js: JetStreamContext, stream: str, consumer: str) -> int:
    """Every event of `stream` up to this sequence was applied by the durable `consumer` (its
    ack floor: the projections acknowledge after their transaction commits)."""
    try:
        info = await js.consumer_info(stream, consumer)
    except NotFoundError:
        return 0
    return int(info.ack_floor.stream_seq) if info.ack_floor else 0


async def stream_last_seq(js: JetStreamContext, stream: str) -> int:
    return int((await js.stream_info(stream)).state.last_seq or 0)


async def run_check(
    nats_url: str,
    projection: str,
    check: Check,
    query: VerifyProjection,
    *,
    bar: bool = False,
) -> ProjectionReport:
    """The check on a NATS connection of its own (it may run on an event loop of its own)."""
    client = await connect(nats_url, f"cortex-{projection}-verify")
    shown = BarProgress(projection, bar) if query.progress_subject is None else None
    try:
        progress: Progress = shown or PublishedProgress(
            client, query.progress_subject or "", projection
        )
        return await check(client.jetstream(), progress, query.max_differences)
    finally:
        if shown is not None:
            shown.close()
        await client.close()


async def in_own_thread(
    nats_url: str, projection: str, check: Check, query: VerifyProjection
) -> ProjectionReport:
    """A replay is seconds to minutes of CPU: on a thread with its own event loop, the service's
    loop keeps answering queries and applying events meanwhile."""
    return await asyncio.to_thread(asyncio.run, run_check(nats_url, projection, check, query))


def answering(
    nats_url: str, projection: str, check: Check
) -> Callable[[VerifyProjection], Awaitable[ProjectionReport]]:
    """The handler of the service's `verify` endpoint."""

    async def handle(query: VerifyProjection) -> ProjectionReport:
        report = await in_own_thread(nats_url, projection, check, query)
        record_metrics(report)
        return report

    return handle


def record_metrics(report: ProjectionReport) -> None:
    DRIFT_ROWS.labels(report.projection).set(report.drift)
    VERIFIED_AT.labels(report.projection).set(time.time())


async def every(
    interval_sec: float,
    nats_url: str,
    projection: str,
    check: Check,
    js: JetStreamContext,
    topology: Topology,
    stopping: asyncio.Event,
) -> None:
    """The scheduled verify: a run every `interval_sec`, its result as an audit event
    (`audit.verified`) and as metrics."""
    while not stopping.is_set():
        try:
            await asyncio.wait_for(stopping.wait(), interval_sec)
            return
        except TimeoutError:
            pass
        try:
            report = await in_own_thread(nats_url, projection, check, VerifyProjection())
            record_metrics(report)
            await publish_event(js, topology.audit_subject("audit.verified"), audit_event(report))
            log.log(
                logging.WARNING if report.drift else logging.INFO,
                "verify of %s: %s differences",
                projection,
                report.drift,
            )
        except Exception:  # the database or NATS may be away: the next round tries again
            log.exception("scheduled verify of %s failed", projection)


def audit_event(report: ProjectionReport, actor: Actor | None = None) -> AuditRecorded:
    return AuditRecorded(
        action="audit.verified",
        aggregate_id=report.projection,
        actor=actor or Actor(),
        details={
            "projection": report.projection,
            "through_seq": report.through_seq,
            "events": report.events,
            "differences": report.drift,
            "tables": {table.table: table.differences for table in report.tables},
        },
    )


def report_lines(report: ProjectionReport) -> Iterator[str]:
    """The report as printed by `verify` commands: a summary, then every difference listed."""
    yield (
        f"{report.projection}: {report.events:,} events of {report.stream} replayed through "
        f"seq {report.through_seq} (all applied through {report.applied_floor}, "
        f"{report.pending_events} not applied yet: left out) in {report.seconds:.1f}s"
    )
    for table in report.tables:
        note = f" ({table.note})" if table.note else ""
        yield (
            f"  {table.table}: {table.live_rows:,} live rows, {table.replayed_rows:,} replayed, "
            f"{table.differences} differences{note}"
        )
    for d in report.differences:
        yield f"  {d.table} {d.key} {d.column}: live {d.live!r}, replayed {d.replayed!r}"
    unlisted = report.drift - len(report.differences)
    if unlisted > 0:
        yield f"  ... and {unlisted} more differences (raise --max-differences to list them)"


PROJECTIONS = ("sessions", "usage")  # the services that answer `verify`


async def ask_verify(
    queries: QueryClient,
    topology: Topology,
    projection: str,
    *,
    timeout: float,
    max_differences: int = 1000,
    progress: Progress | None = None,
) -> ProjectionReport:
    """Asks the projection's service to verify (one replica answers), following its progress;
    raises `QueryFailed` when it refuses or does not answer in `timeout`."""
    nats = queries.nats
    inbox = nats.new_inbox() if progress is not None else None

    async def on_progress(msg: Msg) -> None:
        shown = VerifyProgress.model_validate_json(msg.data)
        if progress is not None:
            await progress(shown.done, shown.total)

    followed = await nats.subscribe(inbox, cb=on_progress) if inbox else None
    try:
        query = VerifyProjection(progress_subject=inbox, max_differences=max_differences)
        return await queries.ask_for(
            topology.verify_subject(projection),
            query,
            ProjectionReport,
            timeout=timeout,
            service=projection,
        )
    finally:
        if followed is not None:
            await followed.unsubscribe()


def run_command(nats_url: str, projection: str, check: Check) -> None:
    """`cortex-<service> verify [--no-progress] [--max-differences N]`: the report on stdout,
    exit status 1 on drift."""
    parser = argparse.ArgumentParser(prog=f"cortex-{projection} verify")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--max-differences", type=int, default=1000, help="differences listed")
    args = parser.parse_args(sys.argv[2:])
    query = VerifyProjection(max_differences=args.max_differences)
    report = asyncio.run(run_check(nats_url, projection, check, query, bar=not args.no_progress))
    for line in report_lines(report):
        print(line)
    raise SystemExit(1 if report.drift else 0)
