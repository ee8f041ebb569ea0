"""Usage service: ingest rate through the real recorder, and aggregate queries over 1M records.

Runs its own embedded NATS and PostgreSQL and the real `cortex-usage` process.

- Ingest, backlog: events wait in the stream while no recorder runs; then one starts, and the rate
  is measured from its first stored row to its last (the service's start-up is left out).
- Ingest, live: the recorder runs while the events are published as fast as this machine can.
- Queries: 1,000,000 records loaded with COPY (30 days, realistic mix) and rolled up (timed), then
  each query is asked over NATS request-reply, as the gateway asks it, and timed end to end.
"""

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from bench.report import write_section
from bench.usage_population import COLUMNS, Population
from bench.usage_recorders import (
    INGEST_EVENTS,
    PUBLISH_CONCURRENCY,
    UsageService,
    backlog_with_replicas,
    libpq,
    publish,
    stored,
)
from cortex_contracts.messages.usage import UsageQuery
from cortex_contracts.topology import Topology
from cortex_devstack.embedded import EmbeddedNats, EmbeddedPostgres
from cortex_devstack.ports import free_port
from cortex_runtime.jetstream import ensure_streams
from cortex_usage.migrate import migrate
from cortex_usage.rollup import Rollup
from cortex_usage.settings import Settings
from cortex_usage.tables import mark_every_recorded_hour, rollups, usage_records

QUERY_RECORDS = 1_000_000
QUERY_RUNS = 20
WARMUP_RUNS = 2
TARGET_INGEST_PER_SEC = 10_000
TARGET_QUERY_P95_MS = 200.0
DAYS = 30
END = datetime(2026, 11, 1, tzinfo=UTC)


async def wait_stored(database_url: str, count: int) -> tuple[float, float, int]:
    """(first poll that sees rows, poll that sees them all, rows seen at the first)"""
    first_seen, seen_at_first = 0.0, 0
    while True:
        now_stored = await asyncio.to_thread(stored, database_url)
        now = time.perf_counter()
        if now_stored and not first_seen:
            first_seen, seen_at_first = now, now_stored
        if now_stored >= count:
            return first_seen, now, seen_at_first
        await asyncio.sleep(0.1)


async def bench_ingest(env: dict[str, str], work: Path, population: Population) -> list[str]:
    topology = Topology(prefix=env["CORTEX_NATS_PREFIX"])
    database_url = env["CORTEX_DATABASE_URL"]
    nc = await nats.connect(env["CORTEX_NATS_URL"])
    js = nc.jetstream()
    await ensure_streams(js, topology)
    lines = []
    try:
        backlog = [population.event() for _ in range(INGEST_EVENTS)]
        publish_sec = await publish(js, topology, backlog)
        service = UsageService(env, work / "usage-ingest.log")
        started = time.perf_counter()
        service.start()
        first, done, early = await wait_stored(database_url, INGEST_EVENTS)
        drain_rate = (INGEST_EVENTS - early) / (done - first)
        lines.append(
            f"| backlog of {INGEST_EVENTS:,} events, one replica | "
            f"**{drain_rate:,.0f} events/s** (first to last stored row; "
            f"{done - started:.1f} s including the service's start) |"
        )
        live = [population.event() for _ in range(INGEST_EVENTS)]
        started = time.perf_counter()
        publishing = asyncio.create_task(publish(js, topology, live))
        _, done, _ = await wait_stored(database_url, 2 * INGEST_EVENTS)
        publish_live_sec = await publishing
        live_rate = INGEST_EVENTS / (done - started)
        lines.append(
            f"| live: {INGEST_EVENTS:,} events published while recording, one replica | "
            f"**{live_rate:,.0f} events/s** end to end (the publisher alone: "
            f"{INGEST_EVENTS / publish_live_sec:,.0f} events/s) |"
        )
        lines.append(
            f"| publishing alone, no recorder running | "
            f"{INGEST_EVENTS / publish_sec:,.0f} events/s ({PUBLISH_CONCURRENCY} in flight) |"
        )
        service.stop()
        recorded = 2 * INGEST_EVENTS
        for replicas in (1, 2, 3):
            lines.append(
                await backlog_with_replicas(env, work, js, topology, population, replicas, recorded)
            )
            recorded += INGEST_EVENTS
    finally:
        await nc.close()
    return lines


def load_records(database_url: str, population: Population) -> float:
    started = time.perf_counter()
    start, step = END - timedelta(days=DAYS), timedelta(days=DAYS) / (QUERY_RECORDS + 1)
    with psycopg.connect(libpq(database_url)) as conn:
        conn.execute("TRUNCATE usage_records, usage_position")
        with conn.cursor().copy(f"COPY usage_records ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for seq in range(1, QUERY_RECORDS + 1):
                # In time order, as the recorder stores them: the table is clustered by time.
                row = population.completion(seq, start + seq * step)
                copy.write_row([row[name] for name in COLUMNS])
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE usage_records")
    return time.perf_counter() - started


def roll_up(database_url: str) -> float:
    """Marks every hour as the recorder would have, and times the rollup of all of them."""
    with psycopg.connect(libpq(database_url)) as conn:
        conn.execute(mark_every_recorded_hour())
    started = time.perf_counter()
    asyncio.run(_roll_up(database_url))
    elapsed = time.perf_counter() - started
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE usage_hourly, usage_daily")
        # The hour still being written: marked, so queries read it from the records.
        conn.execute(
            "INSERT INTO usage_dirty_hours (hour, marked_at) VALUES (%s, now())",
            (END - timedelta(hours=1),),
        )
    return elapsed


async def _roll_up(url: str) -> None:
    engine = create_async_engine(url)
    try:
        rollup = Rollup(engine, usage_records, rollups, 0, Settings().query_work_mem)
        await rollup.run_once()
    finally:
        await engine.dispose()


def query_cases(population: Population) -> Iterator[tuple[str, UsageQuery]]:
    day = timedelta(days=1)
    everything = {"start": END - DAYS * day, "end": END}
    user_id = population.users[0][0]
    last_day = {"start": END - day, "end": END}
    last_week = {"start": END - 7 * day, "end": END}
    yield "by model, last 24 hours", UsageQuery(group_by="model", **last_day)
    yield "by user, last 24 hours", UsageQuery(group_by="user", **last_day)
    yield "by hour, last 24 hours", UsageQuery(group_by="hour", **last_day)
    yield "by model, last 7 days", UsageQuery(group_by="model", **last_week)
    yield "by org, last 7 days", UsageQuery(group_by="org", **last_week)
    yield "one user by day, all 30 days", UsageQuery(group_by="day", user_id=user_id, **everything)
    yield "by model, all 30 days", UsageQuery(group_by="model", **everything)
    yield "by day, all 30 days", UsageQuery(group_by="day", **everything)
    yield "by user, all 30 days", UsageQuery(group_by="user", **everything)
    yield "by org, API traffic, all 30 days", UsageQuery(group_by="org", source="api", **everything)
    yield "by hour, last 7 days", UsageQuery(group_by="hour", **last_week)
    yield "by hour, all 30 days", UsageQuery(group_by="hour", **everything)
    yield "by model, no time range (all records)", UsageQuery(group_by="model")
    yield "records: newest page of 100", UsageQuery(limit=100)
    yield (
        "records: one model's errors, page of 100",
        UsageQuery(model=population.models[3], status="error", limit=100),
    )


async def bench_queries(env: dict[str, str], population: Population) -> list[str]:
    topology = Topology(prefix=env["CORTEX_NATS_PREFIX"])
    nc = await nats.connect(env["CORTEX_NATS_URL"])
    lines = []
    try:
        for name, query in query_cases(population):
            payload = query.model_dump_json().encode()
            timings = []
            for run in range(WARMUP_RUNS + QUERY_RUNS):
                started = time.perf_counter()
                reply = await nc.request(topology.usage_query_subject, payload, timeout=30)
                elapsed = (time.perf_counter() - started) * 1000
                answer = json.loads(reply.data)
                if "error" in answer:
                    raise RuntimeError(f"{name}: {answer}")
                if run >= WARMUP_RUNS:
                    timings.append(elapsed)
            timings.sort()
            p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
            groups = answer.get("groups")
            covered = sum(g["requests"] for g in groups) if groups else len(answer["records"])
            lines.append(
                f"| {name} | {covered:,} | {statistics.median(timings):.0f} | {p95:.0f} |"
                f" {'yes' if p95 <= TARGET_QUERY_P95_MS else 'no'} |"
            )
    finally:
        await nc.close()
    return lines


def main() -> None:
    rng = random.Random(20261101)
    population = Population(rng)
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as tmp:
        work = Path(tmp)
        nats_server = EmbeddedNats(work / "nats", free_port())
        postgres = EmbeddedPostgres(work / "postgres", free_port())
        nats_server.start(log_file=work / "nats.log")
        postgres.start(log_file=work / "postgres.log")
        try:
            postgres.create_database("usage_bench")
            env = {
                "CORTEX_NATS_URL": nats_server.url,
                "CORTEX_DATABASE_URL": postgres.url("usage_bench"),
                "CORTEX_NATS_PREFIX": "bench",
                "CORTEX_LOG_LEVEL": "WARNING",
            }
            migrate(env["CORTEX_DATABASE_URL"])
            ingest = asyncio.run(bench_ingest(env, work, population))
            load_sec = load_records(env["CORTEX_DATABASE_URL"], population)
            rollup_sec = roll_up(env["CORTEX_DATABASE_URL"])
            # No statement timeout here: the slowest queries are measured, not cut short. The
            # last hour stays marked (a long settle time), as the hour being written would be.
            service = UsageService(
                {
                    **env,
                    "CORTEX_USAGE_STATEMENT_TIMEOUT_SEC": "120",
                    "CORTEX_USAGE_ROLLUP_SETTLE_SEC": "86400",
                },
                work / "usage-query.log",
            )
            service.start()
            try:
                queries = asyncio.run(bench_queries(env, population))
            finally:
                service.stop()
        finally:
            postgres.stop()
            nats_server.stop()
    defaults = Settings()
    load = os.getloadavg()[0]
    body = "\n".join(
        [
            f"Load average of the machine when the run ended: {load:.1f} (2 cores, shared).",
            "",
            f"Ingest through the real recorder (`cortex-usage` with its defaults: batches of "
            f"{defaults.fetch_batch}, {defaults.batches_in_flight} in flight, one transaction "
            f"each). Target ≥ {TARGET_INGEST_PER_SEC:,} events/s.",
            "",
            "| case | rate |",
            "|---|---|",
            *ingest,
            "",
            f"Queries over {QUERY_RECORDS:,} records (30 days; 8 models, 300 users in 12 orgs, "
            f"70 % API traffic; loaded with COPY in {load_sec:.0f} s), asked over NATS "
            f"request-reply as the gateway does; {QUERY_RUNS} runs after {WARMUP_RUNS} warm-up "
            f"runs. Target p95 ≤ {TARGET_QUERY_P95_MS:.0f} ms.",
            "",
            "| query | records aggregated | p50 ms | p95 ms | within target |",
            "|---|---|---|---|---|",
            *queries,
            "",
            f"Rolling up the {QUERY_RECORDS:,} records (720 hours, 30 days; what the service does "
            f"after a migration or a rebuild, and hour by hour in normal operation): "
            f"{rollup_sec:.1f} s.",
            "",
            "Counts and token sums are exact; percentiles come from log-scaled histograms "
            "(within 1 %) kept in hourly and daily rollups, so a query reads one row per day, "
            "hour and dimension combination instead of every record: whole days from "
            "`usage_daily`, whole hours of cut days from `usage_hourly`, and the ragged ends "
            "of the range and the hour still being written from the records. Per-hour and per-day "
            "answers without a model, user or org filter read `usage_hourly_totals` (one row "
            "per hour, source and status) instead of `usage_hourly`.",
        ]
    )
    print(body)
    write_section("usage", "python -m bench usage", body)


if __name__ == "__main__":
    main()
