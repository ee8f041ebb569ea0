"""The runtime's durable consumer on a real NATS: replicas racing to create it, and a NATS restart
in the middle of the traffic (nothing published is lost, queries are answered again)."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from cortex_contracts.topology import Topology
from cortex_devstack.embedded import EmbeddedNats
from cortex_devstack.ports import free_port
from cortex_runtime.connection import connect
from cortex_runtime.consumer import DurableConsumer, consume, ensure_durable
from cortex_runtime.jetstream import ensure_streams
from cortex_runtime.pull import stream_sequence
from cortex_runtime.query import QueryClient, QueryFailed
from cortex_runtime.responder import Responder
from tests.integration.test_runtime_replies import Echo, Echoed, echo
from tests.support.backends import Backends

pytestmark = pytest.mark.integration

SETTLE_SEC = 60.0


def usage_consumer(topology: Topology, batches_in_flight: int = 2) -> DurableConsumer:
    return DurableConsumer(
        stream=topology.usage_stream,
        name=topology.usage_consumer,
        filter_subject=topology.usage_all_subjects,
        ack_wait_sec=5.0,
        max_ack_pending=1000,
        batch=50,
        batches_in_flight=batches_in_flight,
        fill_sec=0.05,
    )


async def test_replicas_racing_to_create_the_consumer_all_get_the_same_one(
    backends: Backends,
) -> None:
    topology = Topology(prefix=f"rt{uuid.uuid4().hex[:12]}")
    clients = [await connect(backends.nats_url, f"replica-{n}") for n in range(8)]
    try:
        await ensure_streams(clients[0].jetstream(), topology)
        consumer = usage_consumer(topology)
        results = await asyncio.gather(
            *(ensure_durable(client.jetstream(), consumer) for client in clients),
            return_exceptions=True,
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        infos = await clients[0].jetstream().consumers_info(topology.usage_stream)
        assert [info.name for info in infos] == [consumer.name]
        assert infos[0].config.durable_name == consumer.name
    finally:
        for client in clients:
            await client.close()


async def test_a_consumer_of_an_older_subject_layout_gets_the_new_filter_and_keeps_its_place(
    backends: Backends,
) -> None:
    """A deployment whose partition consumers were made with another filter (the subject layout
    changed) is updated in place: what it acknowledged stays acknowledged."""
    old = Topology(prefix=f"rt{uuid.uuid4().hex[:12]}", chat_partitions=3)
    client = await connect(backends.nats_url, "layout")
    try:
        js = client.jetstream()
        await ensure_streams(js, old)
        subject = f"{old.prefix}.chat.1.u.1"  # one that both layouts' filters take
        first = await js.publish(subject, b"1")
        await js.publish(subject, b"2")
        before = DurableConsumer(
            stream=old.chat_stream,
            name="layout-test",
            filter_subject=f"{old.prefix}.chat.*.*.1",  # the partition-last layout
            ack_wait_sec=5.0,
            max_ack_pending=100,
            batch=10,
        )
        await ensure_durable(js, before)
        pulled = await js.pull_subscribe_bind(before.name, old.chat_stream)
        [msg] = await pulled.fetch(1)
        await msg.ack_sync()
        assert stream_sequence(msg) == first.seq

        after = DurableConsumer(
            stream=old.chat_stream,
            name="layout-test",
            filter_subject=old.chat_partition_subjects(1),
            ack_wait_sec=5.0,
            max_ack_pending=100,
            batch=10,
        )
        await ensure_durable(js, after)
        info = await js.consumer_info(old.chat_stream, after.name)
        assert info.config.filter_subject == f"{old.prefix}.chat.1.>"
        assert info.ack_floor.stream_seq == first.seq
        assert info.num_pending == 1  # the second message, still to come
    finally:
        await client.close()


async def test_a_nats_restart_loses_nothing_and_queries_are_answered_again(
    tmp_path: Path,
) -> None:
    server = EmbeddedNats(tmp_path / "nats", free_port())
    server.start(log_file=tmp_path / "nats.log")
    topology = Topology(prefix="rt")
    nats = await connect(server.url, "runtime-reconnect")
    publisher = await connect(server.url, "runtime-publisher")
    stopping = asyncio.Event()
    handled: list[int] = []
    pulling: asyncio.Task[None] | None = None

    async def handle(batch: list[Msg]) -> None:
        for msg in batch:
            handled.append(stream_sequence(msg))
            await msg.ack()

    try:
        await ensure_streams(nats.jetstream(), topology)
        subject = "rt.q.echo"
        responder = Responder(nats, subject, Echo, echo, queue="echo", workers=2, service="echo")
        await responder.start()
        pulling = asyncio.create_task(consume(nats, usage_consumer(topology), handle, stopping))
        published = [await _publish(publisher, topology, n) for n in range(40)]
        await _until(lambda: set(published) <= set(handled))

        server.stop()
        await asyncio.sleep(1.5)  # the clients notice, and keep trying
        server.start(log_file=tmp_path / "nats.log")

        published += [await _publish(publisher, topology, n) for n in range(40, 80)]
        await _until(lambda: set(published) <= set(handled))
        assert sorted(set(handled)) == sorted(published)

        queries = QueryClient(nats)
        answer = await _retrying(
            lambda: queries.ask_for(subject, Echo(text="back"), Echoed, timeout=2, service="echo")
        )
        assert answer.text == "back"
        await queries.close()
        await responder.stop()
    finally:
        stopping.set()
        if pulling is not None:
            await pulling
        await nats.close()
        await publisher.close()
        server.stop()


async def _publish(client: NatsClient, topology: Topology, n: int) -> int:
    js = client.jetstream()
    for _ in range(100):  # the publisher may still be reconnecting
        try:
            ack = await js.publish(topology.usage_subject("m"), f'{{"n": {n}}}'.encode(), timeout=1)
            return int(ack.seq)
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError(f"event {n} could not be published")


async def _until(done: Callable[[], bool]) -> None:
    async with asyncio.timeout(SETTLE_SEC):
        while True:
            if done():
                return
            await asyncio.sleep(0.05)


async def _retrying(ask: Callable[[], Awaitable[Echoed]]) -> Echoed:
    async with asyncio.timeout(SETTLE_SEC):
        while True:
            try:
                return await ask()
            except QueryFailed:
                await asyncio.sleep(0.2)
