"""Hourly and daily rollups: the same answers as the records, and a late record still counts."""

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import LoginAs
from tests.support.backends import libpq_url
from tests.support.stack import Stack
from tests.support.usage import (
    completion,
    iso,
    jetstream,
    publish_all,
    topology_of,
    wait_until_recorded,
)

pytestmark = pytest.mark.integration

GROUPINGS = ("model", "user", "org", "hour", "day")


def rows(stack: Stack, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        return conn.execute(sql, params).fetchall()


async def wait_until_rolled_up(stack: Stack, start: datetime, end: datetime) -> None:
    deadline = time.monotonic() + 60
    while True:
        marked = rows(
            stack,
            "SELECT hour FROM usage_dirty_hours WHERE hour >= %s AND hour < %s"
            " UNION ALL SELECT day FROM usage_dirty_days WHERE day >= %s AND day < %s",
            start, end, start, end,
        )  # fmt: skip
        if not marked:
            return
        assert time.monotonic() < deadline, f"not rolled up: {marked}"
        await asyncio.sleep(0.2)


async def answers(admin: httpx.AsyncClient, window: dict[str, str]) -> dict[str, Any]:
    result = {}
    for group_by in GROUPINGS:
        response = await admin.get("/admin/usage", params={**window, "group_by": group_by})
        assert response.status_code == 200, response.text
        result[group_by] = response.json()["groups"]
    return result


async def test_rolled_up_answers_equal_the_answers_from_the_records(
    stack: Stack, login_as: LoginAs
) -> None:
    rng = random.Random(11)
    start = datetime(2060, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 20_000)
    end = start + timedelta(days=3)
    models = [f"roll-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    users = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(3)]
    events = []
    for _ in range(300):
        user_id, org_id = rng.choice(users)
        failed = rng.random() < 0.1
        events.append(
            completion(
                rng.choice(models),
                user_id=user_id,
                org_id=org_id,
                occurred_at=start + timedelta(seconds=rng.randrange(3 * 86_400)),
                status="error" if failed else "complete",
                ttft_ms=None if failed else rng.lognormvariate(5, 0.6),
                latency_ms=rng.lognormvariate(8, 0.8),
                prompt_tokens=rng.randrange(1, 400),
            )
        )
    topology = topology_of(stack)
    admin = await login_as("admin")
    window = {"start": iso(start), "end": iso(end)}
    # A window that cuts hours and days in two reads their ends from the records.
    ragged = {
        "start": iso(start + timedelta(hours=5, minutes=17)),
        "end": iso(end - timedelta(minutes=41)),
    }

    async with jetstream(stack) as js:
        await wait_until_recorded(js, topology, await publish_all(js, topology, events))
        from_records = await answers(admin, window)
        ragged_from_records = await answers(admin, ragged)
        await wait_until_rolled_up(stack, start, end)
        hourly = rows(
            stack, "SELECT count(*) FROM usage_hourly WHERE hour >= %s AND hour < %s", start, end
        )
        daily = rows(
            stack, "SELECT count(*) FROM usage_daily WHERE day >= %s AND day < %s", start, end
        )
        assert hourly[0][0] > 0 and daily[0][0] > 0, "the rollups hold the window"

        assert await answers(admin, window) == from_records
        assert await answers(admin, ragged) == ragged_from_records

        late = completion(models[0], occurred_at=start + timedelta(hours=30, minutes=5))
        await wait_until_recorded(js, topology, await publish_all(js, topology, [late]))
        now = await answers(admin, window)
        assert sum(g["requests"] for g in now["day"]) == len(events) + 1, "counted at once"
        await wait_until_rolled_up(stack, start, end)
        assert await answers(admin, window) == now, "and the same once rolled up again"
