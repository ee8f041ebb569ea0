"""What the bench routes share: the bench buckets, the admin's limits, and the rule a run's
settings must meet before it is requested."""

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from nats.js.kv import KeyValue

from cortex_contracts.events.bench import RunSettings
from cortex_contracts.messages.bench import BenchLimits, BenchRunQuery, BenchRunView
from cortex_gateway.auth.principal import Principal
from cortex_gateway.deps import Events
from cortex_runtime.kv import ensure_bucket
from cortex_runtime.query import QueryClient

LIMITS_KEY = "limits"  # the bench service reads the same key (cortex_bench.limits)
QUERY_TIMEOUT_SEC = 10.0


@dataclass(frozen=True)
class BenchBuckets:
    limits: KeyValue
    live: KeyValue  # the run credentials (the bench service's progress is there too)

    async def read_limits(self) -> BenchLimits:
        try:
            entry = await self.limits.get(LIMITS_KEY)
        except Exception:  # not set yet
            return BenchLimits()
        return BenchLimits.model_validate_json(entry.value or b"{}")


async def bench_buckets(request: Request, events: Events) -> BenchBuckets:
    """Opened once per process, at the first bench request (the bench feature stays out of the
    lifespan)."""
    found: BenchBuckets | None = getattr(request.app.state, "bench_buckets", None)
    if found is None:
        topology = events.topology
        found = BenchBuckets(
            limits=await ensure_bucket(events.js, topology.bench_limits_bucket_config()),
            live=await ensure_bucket(events.js, topology.bench_live_bucket_config()),
        )
        request.app.state.bench_buckets = found
    return found


Buckets = Annotated[BenchBuckets, Depends(bench_buckets)]


def requests_needed(settings: RunSettings) -> int | None:
    """Most requests the run may send (None for durations: bounded while it runs)."""
    if settings.requests_per_level is None:
        return None
    if settings.shape == "slo_search":
        low, high = settings.levels
        steps = 2 + math.ceil(math.log2(max(high - low, 1)))
        return settings.requests_per_level * steps
    return settings.requests_per_level * len(settings.levels)


def check_allowed(principal: Principal, settings: RunSettings, limits: BenchLimits) -> None:
    if limits.who == "admins" and not principal.is_admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="Only administrators may start benchmark runs here (an admin setting).",
        )
    problems = []
    peak = settings.peak_concurrency
    if peak is not None and peak > limits.max_concurrency:
        problems.append(
            f"concurrency {peak} is over the limit of {limits.max_concurrency} set by an admin"
        )
    needed = requests_needed(settings)
    if needed is not None and needed > limits.max_requests:
        problems.append(
            f"the run needs up to {needed} requests, over the limit of {limits.max_requests}"
        )
    if settings.duration_per_level_sec is not None:
        levels = len(settings.levels) if settings.shape != "slo_search" else 8
        total = settings.duration_per_level_sec * levels
        if total > limits.max_duration_sec:
            problems.append(
                f"the run may take {total:g} s, over the limit of {limits.max_duration_sec:g} s"
            )
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail="; ".join(problems) + ".")


async def find_run(
    queries: QueryClient,
    events: Events,
    principal: Principal,
    run_id: str,
    include_samples: bool = False,
) -> BenchRunView:
    """The run, if the caller may see it (their own; an admin sees every run): else 404."""
    query = BenchRunQuery(
        run_id=run_id,
        user_id=None if principal.is_admin else principal.user_id,
        include_samples=include_samples,
    )
    return await queries.ask_for(
        events.topology.bench_run_subject,
        query,
        BenchRunView,
        timeout=QUERY_TIMEOUT_SEC,
        service="bench",
    )
