"""Completion events published onto the usage stream become exactly those usage records."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import LoginAs
from tests.support.stack import Stack
from tests.support.usage import (
    all_records,
    completion,
    iso,
    jetstream,
    publish_all,
    topology_of,
    wait_until_recorded,
)

pytestmark = pytest.mark.integration


def varied_completions(model: str, count: int) -> list:
    """A mix of every kind of completion the gateway reports, one second apart."""
    start = datetime(2031, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    statuses = ["complete", "stopped", "abandoned", "error"]
    events = []
    for i in range(count):
        status = statuses[i % 4]
        failed = status == "error"
        events.append(
            completion(
                model,
                occurred_at=start + timedelta(seconds=i),
                engine_type="llamacpp" if i % 3 else "vllm",
                source="api" if i % 2 else "playground",
                api_key_id=str(uuid.uuid4()) if i % 2 else None,
                chat_session_id=None if i % 2 else str(uuid.uuid4()),
                stream=i % 5 != 0,
                status=status,
                error="upstream answered 500: boom" if failed else None,
                http_status=502 if failed else 200,
                finish_reason=None if failed else ("length" if i % 7 == 0 else "stop"),
                prompt_tokens=10 + i,
                completion_tokens=0 if failed else 3 * i + 1,
                total_tokens=10 + i + (0 if failed else 3 * i + 1),
                ttft_ms=None if failed else 20.0 + i / 4,
                latency_ms=100.0 + i * 1.5,
                decode_tokens_per_s=None if failed else 50.0 + i,
            )
        )
    return events


async def test_each_published_completion_becomes_exactly_one_record(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    topology = topology_of(stack)
    model = f"m-{uuid.uuid4().hex[:8]}"
    events = varied_completions(model, 57)
    async with jetstream(stack) as js:
        last = await publish_all(js, topology, events)
        await wait_until_recorded(js, topology, last)

    records = await all_records(admin, page_size=10, model=model)

    assert len(records) == len(events)
    newest_first = sorted(events, key=lambda e: e.occurred_at, reverse=True)
    for record, event in zip(records, newest_first, strict=True):
        assert record == {
            "event_id": str(event.event_id),
            "completion_id": event.aggregate_id,
            "occurred_at": iso(event.occurred_at),
            "user_id": event.actor.user_id,
            "username": None,  # not a user of this gateway
            "org_id": event.actor.org_id,
            "org_name": None,
            "api_key_id": event.api_key_id,
            "model": model,
            "engine_type": event.engine_type,
            "source": event.source,
            "stream": event.stream,
            "status": event.status,
            "error": event.error,
            "finish_reason": event.finish_reason,
            "http_status": event.http_status,
            "prompt_tokens": event.prompt_tokens,
            "completion_tokens": event.completion_tokens,
            "total_tokens": event.total_tokens,
            "ttft_ms": event.ttft_ms,
            "latency_ms": event.latency_ms,
            "decode_tokens_per_s": event.decode_tokens_per_s,
            "chat_session_id": event.chat_session_id,
        }


async def test_redelivered_and_republished_events_count_once(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    topology = topology_of(stack)
    model = f"m-{uuid.uuid4().hex[:8]}"
    events = [completion(model, prompt_tokens=7, completion_tokens=5, total_tokens=12)]
    events += [completion(model, prompt_tokens=1, completion_tokens=2, total_tokens=3)]
    async with jetstream(stack) as js:
        await publish_all(js, topology, events)
        await publish_all(js, topology, events)  # a retry: de-duplicated by JetStream
        await publish_all(js, topology, events, msg_id_suffix="-again")  # stored a second time
        last = await publish_all(js, topology, events, msg_id_suffix="-and-again")
        stored = await js.stream_info(topology.usage_stream)
        await wait_until_recorded(js, topology, last)

    assert stored.state.messages >= 6, "the copies really are in the stream"
    records = await all_records(admin, model=model)
    assert sorted(r["event_id"] for r in records) == sorted(str(e.event_id) for e in events)
    totals = await admin.get("/admin/usage", params={"model": model, "group_by": "model"})
    assert totals.status_code == 200, totals.text
    [group] = totals.json()["groups"]
    assert (group["requests"], group["prompt_tokens"], group["total_tokens"]) == (2, 8, 15)


async def test_unreadable_events_are_dead_lettered_without_stalling_the_others(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    topology = topology_of(stack)
    model = f"m-{uuid.uuid4().hex[:8]}"
    subject = topology.usage_subject(model)
    garbage = [b"not json at all", json.dumps({"type": "usage.completion.recorded"}).encode()]
    async with jetstream(stack) as js:
        await publish_all(js, topology, [completion(model)])
        for payload in garbage:
            await js.publish(subject, payload)
        last = await publish_all(js, topology, [completion(model), completion(model)])
        await wait_until_recorded(js, topology, last)

        dead = await js.pull_subscribe(
            topology.dead_letter_subject(topology.usage_consumer),
            stream=topology.dead_letter_stream,
        )
        letters = await dead.fetch(100, timeout=5)

    assert len(await all_records(admin, model=model)) == 3
    mine = [m for m in letters if m.headers and m.headers.get("Cortex-Subject") == subject]
    assert sorted(m.data for m in mine) == sorted(garbage)
    assert all(m.headers and "unreadable" in m.headers["Cortex-Reason"] for m in mine)


async def test_text_postgresql_cannot_store_is_cleaned_not_lost(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    topology = topology_of(stack)
    model = f"m-{uuid.uuid4().hex[:8]}"
    event = completion(model, status="error", error="bad\x00byte from upstream", ttft_ms=None)
    async with jetstream(stack) as js:
        last = await publish_all(js, topology, [event])
        await wait_until_recorded(js, topology, last)

    [record] = await all_records(admin, model=model)
    assert record["error"] == "badbyte from upstream"


async def test_huge_upstream_errors_are_shortened_and_pages_still_fit_in_a_message(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    topology = topology_of(stack)
    model = f"m-{uuid.uuid4().hex[:8]}"
    page_of_html = "<html>" + "upstream exploded " * 5000 + "</html>"  # ~90 kB each
    events = [
        completion(model, status="error", error=page_of_html, ttft_ms=None) for _ in range(300)
    ]
    async with jetstream(stack) as js:
        last = await publish_all(js, topology, events)
        await wait_until_recorded(js, topology, last)

    first = await admin.get("/admin/usage", params={"model": model, "limit": 1000})
    records = await all_records(admin, model=model)

    assert first.status_code == 200, first.text
    assert 0 < len(first.json()["records"]) < 300, "a page fits in one NATS message"
    assert first.json()["next_cursor"]
    assert sorted(r["event_id"] for r in records) == sorted(str(e.event_id) for e in events)
    assert all(r["error"].startswith("<html>upstream exploded") for r in records)
    assert all(len(r["error"]) == 4000 and r["error"].endswith("…") for r in records)
