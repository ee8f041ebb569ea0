"""The model registry on a real NATS JetStream: seeding from the models file, run-time edits by
admins, and several gateway replicas (catalogs) that follow the same bucket."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.js import JetStreamContext

from cortex_contracts.events.models import Upstream
from cortex_contracts.topology import Topology
from cortex_gateway.models.catalog import ModelCatalog
from tests.support.backends import Backends
from tests.support.completions import eventually

pytestmark = pytest.mark.integration


def upstream(name: str, port: int = 8000, **extra: object) -> Upstream:
    return Upstream.model_validate(
        {"served_model_name": name, "base_url": f"http://engine:{port}", "engine_type": "vllm"}
        | extra
    )


@pytest.fixture
async def js(backends: Backends) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(backends.nats_url)
    yield nc.jetstream()
    await nc.drain()


@pytest.fixture
def topology() -> Topology:
    return Topology(prefix=f"r{uuid.uuid4().hex[:10]}")


Replica = Callable[[list[Upstream] | None], Awaitable[ModelCatalog]]


@pytest.fixture
async def replica(js: JetStreamContext, topology: Topology) -> AsyncIterator[Replica]:
    started: list[ModelCatalog] = []

    async def start(baseline: list[Upstream] | None) -> ModelCatalog:
        catalog = ModelCatalog()
        await catalog.attach(js, topology, baseline)
        started.append(catalog)
        return catalog

    yield start
    for catalog in started:
        await catalog.detach()


def entry(catalog: ModelCatalog, name: str) -> Upstream:
    found = catalog.get(name)
    assert found is not None, f"{name} not in the registry"
    return found


def names(catalog: ModelCatalog) -> set[str]:
    return {u.served_model_name for u in catalog.all()}


async def test_the_file_seeds_the_registry_and_every_replica_sees_it(replica: Replica) -> None:
    first = await replica([upstream("a"), upstream("b")])
    second = await replica(None)  # a replica started without a models file

    assert names(first) == names(second) == {"a", "b"}
    assert entry(second, "a").origin == "file"


async def test_an_admins_changes_reach_every_replica(replica: Replica) -> None:
    first = await replica([upstream("a")])
    second = await replica(None)

    await first.register(upstream("new", port=9000))
    await eventually(lambda: _has(second, "new"), "the other replica sees the new model")
    await second.unregister("a")
    await eventually(lambda: _lacks(first, "a"), "the other replica sees the removal")

    assert str(entry(first, "new").base_url) == "http://engine:9000/"


async def test_restarts_keep_admin_edits_and_follow_the_file_otherwise(replica: Replica) -> None:
    before = await replica([upstream("kept"), upstream("edited"), upstream("removed"),
                            upstream("dropped"), upstream("moved")])  # fmt: skip
    await before.register(upstream("edited", port=7000))  # an admin's edit
    await before.unregister("removed")  # an admin's removal

    # Restart with a new file: "moved" has a new address, "dropped" is gone, "added" is new.
    after = await replica([upstream("kept"), upstream("edited"), upstream("removed"),
                           upstream("moved", port=9999), upstream("added")])  # fmt: skip

    assert names(after) == {"kept", "edited", "moved", "added"}
    assert str(entry(after, "edited").base_url) == "http://engine:7000/"
    assert entry(after, "edited").origin == "admin"
    assert str(entry(after, "moved").base_url) == "http://engine:9999/"


async def test_replicas_seeding_at_once_agree(replica: Replica) -> None:
    file = [upstream(f"m{i}") for i in range(5)]
    catalogs = await asyncio.gather(*(replica(file) for _ in range(3)))

    assert all(names(c) == {f"m{i}" for i in range(5)} for c in catalogs)


async def _has(catalog: ModelCatalog, name: str) -> bool:
    return catalog.get(name) is not None


async def _lacks(catalog: ModelCatalog, name: str) -> bool:
    return catalog.get(name) is None


async def test_seeding_reports_each_change_once_for_the_audit_trail(
    js: JetStreamContext, topology: Topology
) -> None:
    file = [upstream(f"m{i}") for i in range(3)]
    catalogs = [ModelCatalog() for _ in range(3)]
    try:
        at_once = await asyncio.gather(*(c.attach(js, topology, file) for c in catalogs))
        restart = ModelCatalog()
        catalogs.append(restart)
        changed = await restart.attach(js, topology, [upstream("m0"), upstream("m1", port=9999)])
    finally:
        for catalog in catalogs:
            await catalog.detach()

    added = sorted(c.after.served_model_name for seeded in at_once for c in seeded if c.after)
    assert added == ["m0", "m1", "m2"]  # three replicas raced; each model is reported once
    assert all(c.before is None for seeded in at_once for c in seeded)
    by_name = {(c.after or c.before).served_model_name: c for c in changed if c.after or c.before}
    assert set(by_name) == {"m1", "m2"}  # m0 unchanged: nothing to report
    assert str(by_name["m1"].before.base_url) == "http://engine:8000/"
    assert str(by_name["m1"].after.base_url) == "http://engine:9999/"
    assert by_name["m2"].after is None
