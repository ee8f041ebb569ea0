"""`cortex-usage rebuild` replays the usage stream into fresh tables, while the service runs."""

import asyncio
import uuid

import psycopg
import pytest

from tests.conftest import LoginAs
from tests.support.backends import libpq_url
from tests.support.processes import run_command
from tests.support.stack import Stack
from tests.support.usage import (
    all_records,
    completion,
    jetstream,
    publish_all,
    topology_of,
    wait_until_recorded,
)

pytestmark = pytest.mark.integration

COLUMNS = (
    "event_id, completion_id, occurred_at, user_id, org_id, api_key_id, model, engine_type,"
    " source, stream, status, error, finish_reason, http_status, prompt_tokens, completion_tokens,"
    " total_tokens, ttft_ms, latency_ms, decode_tokens_per_s, chat_session_id, stream_seq"
)


def table_contents(stack: Stack) -> list[tuple]:
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM usage_records ORDER BY event_id").fetchall()


def execute(stack: Stack, sql: str, *params: object) -> None:
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        conn.execute(sql, params)


async def test_rebuild_restores_the_records_from_the_stream_while_recording_goes_on(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    topology = topology_of(stack)
    model = f"rebuild-{uuid.uuid4().hex[:8]}"
    before = [completion(model, prompt_tokens=i + 1) for i in range(300)]
    during = [completion(model, prompt_tokens=1000 + i) for i in range(600)]
    async with jetstream(stack) as js:
        await wait_until_recorded(js, topology, await publish_all(js, topology, before))
        expected = table_contents(stack)
        # The projection goes wrong: a record lost, a record that never happened.
        execute(stack, "DELETE FROM usage_records WHERE event_id = %s", before[0].event_id)
        execute(
            stack,
            f"INSERT INTO usage_records ({COLUMNS}) SELECT gen_random_uuid(), 'bogus', now(),"
            " user_id, org_id, api_key_id, model, engine_type, source, stream, status, error,"
            " finish_reason, http_status, 999999, completion_tokens, total_tokens, ttft_ms,"
            " latency_ms, decode_tokens_per_s, chat_session_id, stream_seq FROM usage_records"
            " WHERE event_id = %s",
            before[1].event_id,
        )

        publishing = asyncio.create_task(publish_all(js, topology, during))
        rebuilt = await asyncio.to_thread(run_command, "usage", "rebuild", stack.env)
        last = await publishing
        await wait_until_recorded(js, topology, last)

    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "replayed" in rebuilt.stdout
    after = table_contents(stack)
    during_ids = {e.event_id for e in during}
    assert [row for row in after if row[0] not in during_ids] == expected
    records = await all_records(admin, model=model)
    assert len(records) == len(before) + len(during)
    assert {r["event_id"] for r in records} == {str(e.event_id) for e in before + during}
    totals = await admin.get("/admin/usage", params={"model": model, "group_by": "model"})
    [group] = totals.json()["groups"]
    assert group["requests"] == len(before) + len(during), "the bogus record is gone from totals"
    assert group["prompt_tokens"] == sum(e.prompt_tokens for e in before + during)


async def test_rebuild_twice_in_a_row_gives_the_same_table(stack: Stack) -> None:
    first = await asyncio.to_thread(run_command, "usage", "rebuild", stack.env)
    contents = table_contents(stack)
    second = await asyncio.to_thread(run_command, "usage", "rebuild", stack.env)

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert table_contents(stack) == contents
