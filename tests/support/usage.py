"""Helpers for the usage tests: completion events straight onto the stream, and reading back
what the usage service recorded (through the admin API, or the consumer's state)."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from math import ceil, log
from typing import Any

import httpx
import nats
from nats.js import JetStreamContext

from cortex_contracts.envelope import Actor
from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.topology import Topology
from cortex_runtime.jetstream import publish_event
from tests.support.stack import Stack

PUBLISH_CONCURRENCY = 200


def topology_of(stack: Stack) -> Topology:
    return Topology(prefix=stack.env["CORTEX_NATS_PREFIX"])


@asynccontextmanager
async def jetstream(stack: Stack) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(stack.env["CORTEX_NATS_URL"])
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


def completion(
    model: str,
    *,
    user_id: str | None = None,
    org_id: str | None = None,
    occurred_at: datetime | None = None,
    **fields: Any,
) -> CompletionRecorded:
    """A successful playground completion unless `fields` say otherwise."""
    values: dict[str, Any] = {
        "aggregate_id": f"chatcmpl-{uuid.uuid4().hex}",
        "actor": Actor(user_id=user_id or str(uuid.uuid4()), org_id=org_id or str(uuid.uuid4())),
        "model": model,
        "engine_type": "vllm",
        "source": "playground",
        "stream": True,
        "status": "complete",
        "prompt_tokens": 11,
        "completion_tokens": 40,
        "total_tokens": 51,
        "ttft_ms": 25.0,
        "latency_ms": 140.0,
        "decode_tokens_per_s": 300.0,
        **fields,
    }
    if occurred_at is not None:
        values["occurred_at"] = occurred_at
    return CompletionRecorded(**values)


async def publish_all(
    js: JetStreamContext,
    topology: Topology,
    events: Iterable[CompletionRecorded],
    msg_id_suffix: str = "",
) -> int:
    """Publishes concurrently (as many gateway replicas would); returns the last stream sequence.

    A `msg_id_suffix` gives the copies new message ids: JetStream stores them again, as it would
    a publication retried after its de-duplication window.
    """
    limit = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(event: CompletionRecorded) -> int:
        async with limit:
            msg_id = f"{event.event_id}{msg_id_suffix}" if msg_id_suffix else None
            ack = await publish_event(js, topology.usage_subject(event.model), event, msg_id=msg_id)
            return ack.seq

    sequences = await asyncio.gather(*(one(event) for event in events))
    return max(sequences, default=0)


async def wait_until_recorded(
    js: JetStreamContext, topology: Topology, through_seq: int, timeout: float = 120
) -> None:
    """Every event up to `through_seq` was handled (stored, found duplicate or dead-lettered)."""
    deadline = time.monotonic() + timeout
    while True:
        info = await js.consumer_info(topology.usage_stream, topology.usage_consumer)
        floor_seq = info.ack_floor.stream_seq if info.ack_floor else 0
        if floor_seq >= through_seq and not info.num_ack_pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"usage recorder stuck: ack floor {floor_seq} < {through_seq}")
        await asyncio.sleep(0.1)


async def all_records(admin: httpx.AsyncClient, page_size: int = 1000, **filters: Any) -> list:
    """Every record matching the filters, following the cursor from page to page."""
    records: list[dict[str, Any]] = []
    params = {**filters, "limit": page_size}
    while True:
        response = await admin.get("/admin/usage", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        records.extend(body["records"])
        if body["next_cursor"] is None:
            return records
        params["cursor"] = body["next_cursor"]


def nearest_rank(values: Iterable[float | None], fraction: float) -> float | None:
    """The exact percentile the usage API approximates: the value at rank ceil(fraction * n)."""
    ordered = sorted(value for value in values if value is not None)
    if not ordered:
        return None
    return ordered[max(1, ceil(fraction * len(ordered))) - 1]


def histogram_percentile(values: Iterable[float | None], fraction: float) -> float | None:
    """What the usage API reports, computed independently of it: the nearest-rank value's
    log-scaled bucket, (1.02^(i-1), 1.02^i] ms, reported as 2 * 1.02^i / 2.02."""
    exact = nearest_rank(values, fraction)
    if exact is None:
        return None
    bucket = ceil(log(min(max(exact, 0.01), 1e9)) / log(1.02))
    return 2 * 1.02**bucket / 2.02


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
