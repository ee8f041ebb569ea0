"""Health and registry buckets on a real NATS JetStream: TTL set and updated, followed by watchers,
and the gateway's view never serving an expired "healthy"."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.js import JetStreamContext

from cortex_contracts.events.models import ModelHealth
from cortex_contracts.topology import Topology, model_key
from cortex_gateway.models.health_view import HealthView
from cortex_runtime.kv import KvEntry, ensure_bucket, follow_bucket
from tests.support.backends import Backends
from tests.support.health import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def js(backends: Backends) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(backends.nats_url)
    yield nc.jetstream()
    await nc.drain()


@pytest.fixture
def topology() -> Topology:
    return Topology(prefix=f"h{uuid.uuid4().hex[:10]}")


def health(name: str, status: str = "healthy", age_sec: float = 0, ttl: float = 3) -> bytes:
    checked_at = datetime.now(UTC) - timedelta(seconds=age_sec)
    return ModelHealth.model_validate(
        {"served_model_name": name, "status": status, "checked_at": checked_at,
         "expires_after_sec": ttl}
    ).model_dump_json().encode()  # fmt: skip


class Recorder:
    def __init__(self) -> None:
        self.snapshots: list[dict[str, bytes | None]] = []
        self.changes: list[KvEntry] = []

    def replace_all(self, entries: list[KvEntry]) -> None:
        self.snapshots.append({e.key: e.value for e in entries})

    def apply(self, entry: KvEntry) -> None:
        self.changes.append(entry)


async def test_health_bucket_ttl_follows_the_configured_value(
    js: JetStreamContext, topology: Topology
) -> None:
    # Two replicas starting together, then a restart with another TTL.
    await asyncio.gather(
        ensure_bucket(js, topology.health_bucket_config(20)),
        ensure_bucket(js, topology.health_bucket_config(20)),
    )
    assert (await (await js.key_value(topology.health_bucket)).status()).ttl == 20

    kv = await ensure_bucket(js, topology.health_bucket_config(45))

    assert (await kv.status()).ttl == 45


async def test_health_entries_expire_after_the_ttl(
    js: JetStreamContext, topology: Topology
) -> None:
    kv = await ensure_bucket(js, topology.health_bucket_config(1))
    await kv.put(model_key("m"), health("m"))

    async def expired() -> bool:
        return (await kv.status()).values == 0

    await wait_until(expired, "the entry expires")


async def test_a_follower_gets_the_content_then_each_change(
    js: JetStreamContext, topology: Topology
) -> None:
    kv = await ensure_bucket(js, topology.registry_bucket_config())
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.delete("b")
    recorder = Recorder()
    following = asyncio.create_task(follow_bucket(js, topology.registry_bucket, recorder))
    try:
        await wait_until(_true_when(lambda: bool(recorder.snapshots)), "the first snapshot")
        await kv.put("c", b"3")
        await kv.delete("a")
        await wait_until(_true_when(lambda: len(recorder.changes) == 2), "two changes")
    finally:
        following.cancel()

    assert recorder.snapshots == [{"a": b"1"}]
    assert [(c.key, c.value) for c in recorder.changes] == [("c", b"3"), ("a", None)]


async def test_a_follower_waits_for_a_bucket_that_does_not_exist_yet(
    js: JetStreamContext, topology: Topology
) -> None:
    recorder = Recorder()
    following = asyncio.create_task(
        follow_bucket(js, topology.registry_bucket, recorder, retry_sec=0.05)
    )
    try:
        await asyncio.sleep(0.2)
        kv = await ensure_bucket(js, topology.registry_bucket_config())
        await kv.put("late", b"1")
        await wait_until(
            _true_when(lambda: {"late": b"1"} in recorder.snapshots or bool(recorder.changes)),
            "the late entry",
        )
    finally:
        following.cancel()


async def test_the_gateway_view_drops_a_healthy_model_when_its_entry_expires(
    js: JetStreamContext, topology: Topology
) -> None:
    kv = await ensure_bucket(js, topology.health_bucket_config(1))
    view = HealthView(topology)
    await view.start(js)
    try:
        await kv.put(model_key("m"), health("m", ttl=1))
        await wait_until(_true_when(lambda: view.is_running("m")), "m is running")

        await wait_until(_true_when(lambda: not view.is_running("m")), "m expires")

        assert view.get("m") is None
        assert view.last_known("m") is not None
    finally:
        await view.stop()


async def test_the_gateway_view_ignores_entries_already_expired_when_it_starts(
    js: JetStreamContext, topology: Topology
) -> None:
    kv = await ensure_bucket(js, topology.health_bucket_config(60))
    await kv.put(model_key("old"), health("old", age_sec=30, ttl=3))
    await kv.put(model_key("new"), health("new", ttl=3))
    view = HealthView(topology)
    await view.start(js)
    try:
        await wait_until(_true_when(lambda: view.last_known("old") is not None), "loaded")

        assert view.is_running("new")
        assert not view.is_running("old")
        assert view.get("old") is None
    finally:
        await view.stop()


async def test_the_gateway_view_follows_status_changes_and_removals(
    js: JetStreamContext, topology: Topology
) -> None:
    kv = await ensure_bucket(js, topology.health_bucket_config(60))
    view = HealthView(topology)
    await view.start(js)
    try:
        await kv.put(model_key("m"), health("m"))
        await wait_until(_true_when(lambda: view.is_available("m")), "m available")
        await kv.put(model_key("m"), health("m", status="unhealthy"))
        await wait_until(_true_when(lambda: not view.is_available("m")), "m unhealthy")
        await kv.put(model_key("m"), health("m"))
        await wait_until(_true_when(lambda: view.is_available("m")), "m back")
        await kv.delete(model_key("m"))
        await wait_until(_true_when(lambda: view.last_known("m") is None), "m removed")
    finally:
        await view.stop()


def _true_when(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def condition() -> bool:
        return check()

    return condition
