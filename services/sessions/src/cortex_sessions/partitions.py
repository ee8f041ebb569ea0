"""The sessions projection over partitions: one durable consumer per partition of the chat
stream (`Topology.chat_partition_subjects`), each pulled by the one replica that holds its lease
(`cortex_runtime.partitions`), so every event of a session reaches one replica, in order."""

import asyncio
import os
import socket

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.topology import Topology
from cortex_runtime.consumer import DurableConsumer
from cortex_runtime.parking import Parking
from cortex_runtime.partitions import Partition, PartitionedConsumers
from cortex_runtime.service import Context
from cortex_sessions.consumer import ChatEventConsumer
from cortex_sessions.settings import Settings

MAX_ACK_PENDING = 10_000
# Partitions a replica owns are applied concurrently, each in its own transactions.
PROJECTION_CONNECTIONS = 4


def projection_parking(ctx: Context[Settings]) -> Parking:
    """The service's one dead-letter subject for chat events, whichever consumer read them."""
    topology = ctx.topology
    return Parking(ctx.js, topology, topology.sessions_consumer, topology.chat_stream, "chat event")


def projection_partitions(
    ctx: Context[Settings], engine: AsyncEngine, parking: Parking
) -> PartitionedConsumers:
    """Each partition with a projection of its own (its early events are its own)."""
    topology = ctx.topology
    partitions = []
    for consumer in partition_consumers(ctx.settings):
        projection = ChatEventConsumer(engine, ctx.js, ctx.settings, parking)
        partitions.append(
            Partition(consumer, projection.handle, projection.wake_after, projection.release)
        )
    return PartitionedConsumers(
        ctx.nats,
        topology.leases_bucket,
        topology.sessions_consumer,
        partitions,
        ctx.stopping,
        replica=f"{socket.gethostname()}-{os.getpid()}",  # a replica's id in the lease bucket
    )


def partition_consumers(settings: Settings) -> list[DurableConsumer]:
    topology = settings.topology
    return [
        DurableConsumer(
            stream=topology.chat_stream,
            name=topology.sessions_partition_consumer(partition),
            filter_subject=topology.chat_partition_subjects(partition),
            ack_wait_sec=settings.ack_wait_sec,
            max_ack_pending=MAX_ACK_PENDING,
            batch=settings.fetch_batch,
        )
        for partition in range(topology.chat_partitions)
    ]


def strays_consumer(settings: Settings) -> DurableConsumer | None:
    """With partitions, chat subjects of no partition (`Topology.chat_stray_subjects`): one
    consumer that every replica pulls, as nothing in it needs an order."""
    topology = settings.topology
    if topology.chat_stray_subjects is None:
        return None
    return DurableConsumer(
        stream=topology.chat_stream,
        name=topology.sessions_strays_consumer,
        filter_subject=topology.chat_stray_subjects,
        ack_wait_sec=settings.ack_wait_sec,
        max_ack_pending=MAX_ACK_PENDING,
        batch=settings.fetch_batch,
    )


async def projected_floor(js: JetStreamContext, topology: Topology) -> int:
    """A stream sequence up to which every chat event is handled, over all partitions: a
    partition with nothing pending counts as caught up to the stream's end (read first), one
    still working as far as its ack floor."""
    try:
        end = int((await js.stream_info(topology.chat_stream)).state.last_seq or 0)
        infos = await asyncio.gather(
            *(
                js.consumer_info(topology.chat_stream, name)
                for name in topology.sessions_partition_consumers
            )
        )
    except NotFoundError:
        return 0
    covered = [
        end
        if not info.num_pending and not info.num_ack_pending
        else int(info.ack_floor.stream_seq or 0)
        if info.ack_floor
        else 0
        for info in infos
    ]
    return min(covered, default=0)
