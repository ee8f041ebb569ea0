"""Chaos under load on the production topology: a 3-node JetStream cluster, streams and KV
buckets at 3 replicas, `sync_interval: always`. The chat stream's leader killed (-9) and
brought back; a follower frozen; two nodes down at once (no quorum: writes must fail clearly,
never be acknowledged and lost). `make test` runs the leader kill; `make chaos` all three."""

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.chaos.cluster import Cluster, nats_cluster
from tests.chaos.devstack import DevStack, dev_stack
from tests.chaos.scenario import FREEZE_SEC, FULL, Fault, Run, run_scenario
from tests.support.backends import server_dir
from tests.support.chat import topology_of
from tests.support.outage import frozen

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(900)]

DOWN_SEC = 5.0  # how long a killed node stays down before it is started again


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with server_dir() as folder, nats_cluster(folder) as running:
        asyncio.run(running.wait_for_meta_leader())
        yield running


@pytest.fixture(scope="module")
def dev(cluster: Cluster) -> Iterator[DevStack]:
    with (
        server_dir() as folder,
        dev_stack(folder, CORTEX_NATS_URL=cluster.url, CORTEX_STREAM_REPLICAS="3") as running,
    ):
        yield running


def cluster_fault(cluster: Cluster, action: str) -> Fault:
    async def fault(run: Run) -> float:
        stream = topology_of(run.dev.stack).chat_stream
        leader = await cluster.leader_of(stream)
        followers = [node for node in cluster.nodes if node.name != leader]
        if action == "leader":
            cluster.node(leader).kill()
            await asyncio.sleep(DOWN_SEC)
            await asyncio.to_thread(cluster.node(leader).start)
        elif action == "follower":
            process = followers[0].process
            assert process is not None
            with frozen(process):
                await asyncio.sleep(FREEZE_SEC)
        else:  # two nodes down: the stream has no quorum
            for node in followers:
                node.kill()
            await asyncio.sleep(FREEZE_SEC)
            for node in followers:
                await asyncio.to_thread(node.start)
        return time.monotonic()

    return fault


SCENARIOS = {
    "cluster: the chat stream's leader killed (-9), back after 5 s": ("leader", True),
    f"cluster: a follower frozen {FREEZE_SEC:g} s": ("follower", FULL),
    f"cluster: two of three nodes killed (-9) for {FREEZE_SEC:g} s": ("two", FULL),
}


async def test_the_streams_have_three_replicas(dev: DevStack, cluster: Cluster) -> None:
    topology = topology_of(dev.stack)
    for stream in (topology.chat_stream, topology.usage_stream):
        info = await cluster.stream_info(stream)
        assert info.config.num_replicas == 3
        assert info.cluster is not None and len(info.cluster.replicas or []) == 2


def selected() -> list[str]:
    return [name for name, (_, run) in SCENARIOS.items() if run]


@pytest.mark.parametrize("name", selected())
async def test_nothing_acknowledged_is_lost_and_outages_answer_503(
    dev: DevStack, cluster: Cluster, name: str
) -> None:
    action, _ = SCENARIOS[name]
    await run_scenario(dev, name, cluster_fault(cluster, action), set())
