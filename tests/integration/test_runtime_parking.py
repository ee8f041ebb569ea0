"""Bad events published straight to a stream are parked by the sessions and usage consumers (one
header scheme, a metric), and the events behind them are applied as usual.

Each service runs in this process through the runtime, on a database and a NATS prefix of its
own, with a small size limit so that an "oversized" event is quick to make.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from cortex_contracts.envelope import Actor, Event
from cortex_contracts.events.chat import MessageAdded, SessionCreated
from cortex_contracts.messages.sessions import GetSession, SessionView
from cortex_contracts.messages.usage import UsagePage, UsageQuery
from cortex_contracts.topology import Topology
from cortex_runtime.connection import connect
from cortex_runtime.jetstream import publish_event
from cortex_runtime.query import QueryClient, QueryFailed
from cortex_sessions.migrate import migrate as migrate_sessions
from cortex_sessions.service import service as sessions_service
from cortex_sessions.settings import Settings as SessionsSettings
from cortex_usage.migrate import migrate as migrate_usage
from cortex_usage.service import service as usage_service
from cortex_usage.settings import Settings as UsageSettings
from tests.conftest import LoginAs
from tests.support.backends import Backends, fresh_database
from tests.support.stack import Stack
from tests.support.usage import completion, jetstream, topology_of

pytestmark = pytest.mark.integration

LIMIT = 4096  # bytes: a larger event is "oversized" for these consumers
SETTLE_SEC = 30.0


@pytest.fixture(scope="module")
def own_database(backends: Backends) -> Iterator[str]:
    with fresh_database(backends.postgres_url) as url:
        migrate_sessions(url)
        migrate_usage(url)
        yield url


@pytest.fixture
async def nats_client(backends: Backends) -> AsyncIterator[NatsClient]:
    client = await connect(backends.nats_url, "parking-test")
    try:
        yield client
    finally:
        await client.close()


def env(backends: Backends, database_url: str, prefix: str) -> dict[str, Any]:
    return {
        "CORTEX_NATS_URL": backends.nats_url,
        "CORTEX_NATS_PREFIX": prefix,
        "CORTEX_DATABASE_URL": database_url,
    }


def parked_metric(consumer: str, kind: str) -> float:
    labels = {"consumer": consumer, "kind": kind}
    return REGISTRY.get_sample_value("cortex_events_parked_total", labels) or 0.0


def bad_version(event: Event) -> bytes:
    fields = json.loads(event.to_bytes())
    fields["schema_version"] = 2
    return json.dumps(fields).encode()


async def parked(js: JetStreamContext, topology: Topology, consumer: str, count: int) -> list[Any]:
    """The first `count` events parked by `consumer` (waits for them)."""
    subject = topology.dead_letter_subject(consumer)
    async with asyncio.timeout(SETTLE_SEC):
        while True:
            found, seq = [], 1
            while True:
                try:
                    msg = await js.get_msg(
                        topology.dead_letter_stream, seq=seq, subject=subject, next=True
                    )
                except NotFoundError:
                    break
                found.append(msg)
                seq = int(msg.seq or 0) + 1
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)


async def test_the_sessions_projection_parks_bad_events_and_applies_the_rest(
    backends: Backends, own_database: str, nats_client: NatsClient
) -> None:
    prefix = f"park{uuid.uuid4().hex[:10]}"
    settings = SessionsSettings(
        **env(backends, own_database, prefix), CORTEX_SESSIONS_MAX_EVENT_BYTES=LIMIT
    )
    topology = settings.topology
    consumer = topology.sessions_consumer
    before = {
        kind: parked_metric(consumer, kind) for kind in ("malformed", "oversized", "wrong-version")
    }
    ctx = await sessions_service.started(settings)
    queries = QueryClient(nats_client)
    try:
        js = nats_client.jetstream()
        user = str(uuid.uuid4())
        session = str(uuid.uuid4())
        subject = topology.chat_subject(user, session)
        created = SessionCreated(
            aggregate_id=session,
            actor=Actor(user_id=user),
            previous_seq=0,
            model_name="m",
            engine_type="vllm",
        )
        last = (await publish_event(js, subject, created, expected_last_subject_seq=0)).seq

        def message(content: str, previous: int) -> MessageAdded:
            return MessageAdded(
                aggregate_id=session,
                actor=Actor(user_id=user),
                previous_seq=previous,
                role="user",
                content=content,
                model_name="m",
            )

        malformed = (await js.publish(subject, b"{oops")).seq
        big = message("x" * (2 * LIMIT), malformed)
        oversized = (await js.publish(subject, big.to_bytes())).seq
        newer = (await js.publish(subject, bad_version(message("from the future", oversized)))).seq
        good = message("after the bad ones", newer)
        last = (await publish_event(js, subject, good, expected_last_subject_seq=newer)).seq

        view = await queries.ask_for(
            topology.sessions_get_subject,
            GetSession(user_id=user, session_id=session, min_seq=last),
            SessionView,
            timeout=SETTLE_SEC,
            service="sessions",
        )
        assert [m.content for m in view.messages] == ["after the bad ones"]

        letters = await parked(js, topology, consumer, 3)
        by_seq = {int(m.headers["Cortex-Stream-Seq"]): m.headers for m in letters}
        assert {seq: h["Cortex-Kind"] for seq, h in by_seq.items()} == {
            malformed: "malformed",
            oversized: "oversized",
            newer: "wrong-version",
        }
        assert "schema_version 2" in by_seq[newer]["Cortex-Reason"]
        assert all(h["Cortex-Subject"] == subject for h in by_seq.values())
        assert all(h["Cortex-Stream"] == topology.chat_stream for h in by_seq.values())
        for kind in before:
            assert parked_metric(consumer, kind) == before[kind] + 1, kind
    finally:
        await queries.close()
        await sessions_service.stopped(ctx)


async def test_the_usage_recorder_parks_bad_events_and_records_the_rest(
    backends: Backends, own_database: str, nats_client: NatsClient
) -> None:
    prefix = f"park{uuid.uuid4().hex[:10]}"
    settings = UsageSettings(
        **env(backends, own_database, prefix), CORTEX_USAGE_MAX_EVENT_BYTES=LIMIT
    )
    topology = settings.topology
    consumer = topology.usage_consumer
    before = {
        kind: parked_metric(consumer, kind) for kind in ("malformed", "oversized", "wrong-version")
    }
    ctx = await usage_service.started(settings)
    queries = QueryClient(nats_client)
    try:
        js = nats_client.jetstream()
        model = f"m-{uuid.uuid4().hex[:8]}"
        subject = topology.usage_subject(model)
        malformed = (await js.publish(subject, b'{"type": "usage.completion.recorded"')).seq
        big = completion(model, status="error", error="x" * (2 * LIMIT), http_status=502)
        oversized = (await js.publish(subject, big.to_bytes())).seq
        newer = (await js.publish(subject, bad_version(completion(model)))).seq
        good = completion(model)
        await publish_event(js, subject, good)

        async with asyncio.timeout(SETTLE_SEC):
            while True:
                try:
                    page = await queries.ask_for(
                        topology.usage_query_subject,
                        UsageQuery(model=model),
                        UsagePage,
                        timeout=SETTLE_SEC,
                        service="usage",
                    )
                except QueryFailed:
                    page = UsagePage(records=[])
                if page.records:
                    break
                await asyncio.sleep(0.1)
        assert [str(r.event_id) for r in page.records] == [str(good.event_id)]

        letters = await parked(js, topology, consumer, 3)
        kinds = {int(m.headers["Cortex-Stream-Seq"]): m.headers["Cortex-Kind"] for m in letters}
        assert kinds == {malformed: "malformed", oversized: "oversized", newer: "wrong-version"}
        assert all(m.headers["Cortex-Consumer"] == consumer for m in letters)
        for kind in before:
            assert parked_metric(consumer, kind) == before[kind] + 1, kind
    finally:
        await queries.close()
        await usage_service.stopped(ctx)


async def test_admins_see_how_many_events_each_consumer_parked(
    stack: Stack, login_as: LoginAs
) -> None:
    admin = await login_as("admin")
    user = await login_as()

    async def count() -> int:
        response = await admin.get("/admin/parked")
        assert response.status_code == 200, response.text
        counts = {c["consumer"]: c["parked"] for c in response.json()["consumers"]}
        return int(counts.get(topology.usage_consumer, 0))

    topology = topology_of(stack)
    before = await count()
    async with jetstream(stack) as js:
        await js.publish(topology.usage_subject(f"m-{uuid.uuid4().hex[:8]}"), b"not an event")
    async with asyncio.timeout(SETTLE_SEC):
        while True:
            if await count() > before:
                break
            await asyncio.sleep(0.1)
    assert (await user.get("/admin/parked")).status_code == 403
