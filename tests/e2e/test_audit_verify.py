"""`verify` compares the projections (sessions, usage) with a replay of their streams: it passes
on a live system with three sessions replicas while chats and usage keep being written, and it
names the table, key and column of a row changed by hand, in the console and the admin API."""

import asyncio
import itertools
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from nats.js.errors import NotFoundError

from cortex_contracts.events.audit import AuditRecorded
from tests.conftest import LoginAs
from tests.support.backends import Backends, fresh_database, libpq_url
from tests.support.chat import add_message, create_session, get_when_ready, sql
from tests.support.processes import console_script
from tests.support.stack import Stack, base_env, running_stack
from tests.support.usage import (
    completion,
    jetstream,
    publish_all,
    topology_of,
    wait_until_recorded,
)

pytestmark = pytest.mark.e2e
VERIFY_TIMEOUT_SEC = 240  # a generous bound: the streams hold a few thousand events


@pytest.fixture(scope="module")
def stack(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own (its drift test edits rows), with three sessions replicas."""
    with fresh_database(backends.postgres_url) as database_url:
        env = base_env(backends.nats_url, database_url)
        with running_stack(env, Path(tmp_path_factory.mktemp("verify-stack"))) as running:
            running.start_extra("sessions")
            running.start_extra("sessions")
            yield running


def change(stack: Stack, statement: str, *params: object) -> None:
    """A row changed by hand, around the services."""
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        assert conn.execute(statement, params).rowcount == 1


def verify(stack: Stack, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`cortex-audit verify ...` or `cortex-<service> verify ...`, as an operator runs it."""
    try:
        return subprocess.run(
            [console_script(f"cortex-{tool}"), "verify", "--no-progress", *args],
            env={**os.environ, **stack.env, "PYTHONUNBUFFERED": "1"},
            capture_output=True,
            text=True,
            check=False,
            timeout=VERIFY_TIMEOUT_SEC,
        )
    except subprocess.TimeoutExpired as late:
        raise AssertionError(
            f"cortex-{tool} verify hangs: {late.stdout!r} {late.stderr!r}"
        ) from late


async def verify_in_thread(stack: Stack, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(verify, stack, tool, *args)


async def usage_written(stack: Stack, count: int) -> int:
    """Completions spread over the last hours (rolled up once settled); their last sequence."""
    now = datetime.now(UTC)
    events = [
        completion(
            random.choice(["sim-vllm-small", "sim-llamacpp-large"]),
            occurred_at=now - timedelta(minutes=random.randint(0, 300)),
            latency_ms=random.uniform(50, 900),
            ttft_ms=random.uniform(5, 90),
        )
        for _ in range(count)
    ]
    async with jetstream(stack) as js:
        return await publish_all(js, topology_of(stack), events)


async def settled(stack: Stack, last_usage_seq: int) -> None:
    """Every usage event recorded and rolled up (no hour or day still marked)."""
    async with jetstream(stack) as js:
        await wait_until_recorded(js, topology_of(stack), last_usage_seq)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while sql(stack, "SELECT 1 FROM usage_dirty_hours UNION ALL SELECT 1 FROM usage_dirty_days"):
        assert loop.time() < deadline, "the rollup did not settle"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(900)  # starts a stack of its own, then three verifies on a shared machine
async def test_verify_passes_with_three_sessions_replicas_while_chats_and_usage_are_written(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    chats = [await create_session(client) for _ in range(6)]
    verifying = asyncio.Event()
    done = asyncio.Event()
    written: list[int] = []

    async def write_chats() -> None:
        for n in itertools.count():
            chat = chats[n % len(chats)]
            response = await client.post(
                f"/v1/chat/sessions/{chat}/messages",
                json={"role": "user", "content": f"message {n} " + "words " * (n % 30)},
            )
            written.append(response.status_code)
            if n % 25 == 24:  # chats come and go too
                gone = chats.pop(0)
                assert (await client.delete(f"/v1/chat/sessions/{gone}")).status_code == 204
                chats.append(await create_session(client, title=f"chat {n}"))
            if n == 30:
                verifying.set()
            if done.is_set():
                return

    async def write_usage() -> None:
        for _ in range(60):  # 3,000 completions at most, as gateways would record them
            if done.is_set():
                return
            await usage_written(stack, 50)
            await asyncio.sleep(0.1)

    async def verify_meanwhile() -> list[subprocess.CompletedProcess[str]]:
        await verifying.wait()
        try:
            return [
                await verify_in_thread(stack, "audit"),
                *await asyncio.gather(
                    verify_in_thread(stack, "sessions"), verify_in_thread(stack, "usage")
                ),
            ]
        finally:
            done.set()

    _, _, results = await asyncio.gather(write_chats(), write_usage(), verify_meanwhile())

    assert set(written) == {201}
    audit, sessions, usage = results
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "every chain intact" in audit.stdout
    assert "projections: every table matches its replay" in audit.stdout
    assert sessions.returncode == 0, sessions.stdout + sessions.stderr
    assert "chat_messages:" in sessions.stdout and "0 differences" in sessions.stdout
    assert usage.returncode == 0, usage.stdout + usage.stderr
    for table in ("usage_records", "usage_hourly", "usage_hourly_totals", "usage_daily"):
        assert f"{table}:" in usage.stdout, usage.stdout
    # what was compared is not nothing: the live tables held the chats and the records
    replayed = [line for line in sessions.stdout.splitlines() if "chat_messages:" in line]
    assert replayed and not replayed[0].strip().startswith("chat_messages: 0 live rows")


async def test_a_row_changed_by_hand_is_named_by_table_key_and_column(
    stack: Stack, login_as: LoginAs
) -> None:
    client = await login_as()
    chat = await create_session(client)
    await add_message(client, chat, "what the user wrote")
    assert (await get_when_ready(client, f"/v1/chat/sessions/{chat}")).status_code == 200
    await settled(stack, await usage_written(stack, 40))
    [(message_id,)] = sql(
        stack, "SELECT id FROM chat_messages WHERE session_id = %s", uuid.UUID(chat)
    )
    [(hour, model, requests)] = sql(
        stack, "SELECT hour, model, requests FROM usage_hourly ORDER BY hour, model LIMIT 1"
    )
    change(stack, "UPDATE chat_messages SET content = 'edited by hand' WHERE id = %s", message_id)
    change(
        stack,
        "UPDATE usage_hourly SET requests = requests + 7 WHERE ctid ="
        " (SELECT ctid FROM usage_hourly WHERE hour = %s AND model = %s LIMIT 1)",
        hour,
        model,
    )
    try:
        found = await verify_in_thread(stack, "audit", "--projections")

        assert found.returncode == 1, found.stdout + found.stderr
        lines = found.stdout.splitlines()
        edited = [
            line for line in lines if line.strip().startswith(f"chat_messages [{message_id}]")
        ]
        assert edited, found.stdout
        assert "content: live 'edited by hand', replayed 'what the user wrote'" in edited[0]
        counted = [line for line in lines if line.strip().startswith("usage_hourly [")]
        assert any(
            "requests: live" in line and f"replayed '{requests}'" in line for line in counted
        ), found.stdout
        assert "projections: 2 differences" in found.stdout

        admin = await login_as("admin")
        response = await admin.post("/admin/audit/verify", timeout=300)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["differences"] == 2
        differences = [d for p in body["projections"] for d in p["differences"]]
        assert {
            "table": "chat_messages",
            "key": f"[{message_id}]",
            "column": "content",
            "live": "edited by hand",
            "replayed": "what the user wrote",
        } in differences
        assert any(d["table"] == "usage_hourly" and d["column"] == "requests" for d in differences)
        user = await login_as()
        assert (await user.post("/admin/audit/verify")).status_code == 403
    finally:
        change(
            stack,
            "UPDATE chat_messages SET content = 'what the user wrote' WHERE id = %s",
            message_id,
        )
        change(
            stack,
            "UPDATE usage_hourly SET requests = requests - 7 WHERE ctid = (SELECT ctid FROM"
            " usage_hourly WHERE requests = %s AND hour = %s AND model = %s LIMIT 1)",
            requests + 7,
            hour,
            model,
        )
    repaired = await verify_in_thread(stack, "audit", "--projections")
    assert repaired.returncode == 0, repaired.stdout


async def test_a_scheduled_verify_publishes_an_audit_event_and_its_metrics(stack: Stack) -> None:
    scheduled = stack.start_extra("usage", CORTEX_USAGE_VERIFY_INTERVAL_SEC="1")
    topology = topology_of(stack)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    async with jetstream(stack) as js:
        while True:
            try:
                found = await js.get_last_msg(
                    topology.audit_stream, topology.audit_subject("audit.verified")
                )
                event = AuditRecorded.model_validate_json(found.data or b"")
                if event.aggregate_id == "usage":
                    break
            except NotFoundError:
                pass
            assert loop.time() < deadline, "no audit.verified event from the scheduled verify"
            await asyncio.sleep(0.5)
    assert event.details["differences"] == 0
    assert event.details["events"] > 0
    async with httpx.AsyncClient(base_url=scheduled.url, timeout=10) as ops:
        metrics = (await ops.get("/metrics")).text
    assert 'cortex_projection_drift_rows{projection="usage"} 0.0' in metrics
    assert 'cortex_projection_verified_timestamp_seconds{projection="usage"}' in metrics
