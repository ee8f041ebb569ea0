"""Partitions of a stream shared out among the live replicas of a service: each partition (one
durable consumer) is pulled by exactly one replica at a time, the replicas hold shares within one
of each other, and the partitions of a replica that died move to the others within `TAKEOVER_SEC`.

Coordination is a JetStream KV bucket (`Topology.leases_bucket`) with compare-and-set writes, no
home-made consensus:

- every replica writes `<group>.member.<replica>` every RENEW_SEC (renewals have a loop of their
  own, apart from the balancing below): the members alive are those
  written within LEASE_SEC (as seen by the bucket watch, on this replica's clock);
- the owner of a partition writes `<group>.lease.<consumer>` every RENEW_SEC with the revision it
  last wrote (`update(last=...)`): a lease not renewed within LEASE_SEC is free, and the first
  replica whose compare-and-set succeeds takes it; an owner whose renewal fails lost it and stops;
- each replica's share is N // members, the first N % members (by id) one more; a replica over
  its share stops pulling the extra partitions and deletes their leases; one under it takes free
  ones. A new replica thus receives its share from the others within a few RENEW_SEC.

Exactly-once never depends on the leases: the projection stores its position in the same
transaction as its rows, so a moment with two pullers (a paused owner) only costs duplicates
that are skipped.
"""

import asyncio
import contextlib
import logging
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from cortex_runtime.consumer import BatchHandler, DurableConsumer, consume
from cortex_runtime.kv import KvEntry, ensure_bucket, follow_bucket

log = logging.getLogger(__name__)

RENEW_SEC = 1.0
LEASE_SEC = 3.0
# A dead replica's partitions: its lease runs out (LEASE_SEC), the next tick notices (RENEW_SEC),
# the new owner's first pull follows at once.
TAKEOVER_SEC = LEASE_SEC + 2 * RENEW_SEC
BUCKET_MAX_AGE_SEC = 60.0  # leftovers of replicas long gone disappear


@dataclass(frozen=True)
class Partition:
    consumer: DurableConsumer
    handle: BatchHandler
    wake_after: Callable[[], float | None]
    release: Callable[[], Awaitable[object]]  # see `consumer.consume`


@dataclass
class _Seen:
    value: bytes
    revision: int
    at: float  # when this replica saw it written (monotonic)


class _View:
    """The bucket as the watch shows it, with when each key was last written."""

    def __init__(self) -> None:
        self.keys: dict[str, _Seen] = {}
        self.loaded = asyncio.Event()  # the bucket's content has been read once

    def replace_all(self, entries: list[KvEntry]) -> None:
        now = time.monotonic()
        self.keys = {e.key: _Seen(e.value or b"", e.revision, now) for e in entries if e.value}
        self.loaded.set()

    def apply(self, entry: KvEntry) -> None:
        if entry.value is None:
            self.keys.pop(entry.key, None)
        else:
            self.keys[entry.key] = _Seen(entry.value, entry.revision, time.monotonic())

    def alive(self, key: str, now: float) -> _Seen | None:
        seen = self.keys.get(key)
        return seen if seen is not None and now - seen.at < LEASE_SEC else None


def fair_share(partitions: int, members: list[str], me: str) -> int:
    """Shares within one of each other, summing to `partitions` (same answer on every replica
    that sees the same members)."""
    ordered = sorted(members)
    if me not in ordered:
        return 0
    rank = ordered.index(me)
    return partitions // len(ordered) + (1 if rank < partitions % len(ordered) else 0)


class PartitionedConsumers:
    def __init__(
        self,
        nats: NatsClient,
        bucket: str,
        group: str,
        partitions: list[Partition],
        stopping: asyncio.Event,
        replica: str | None = None,
    ) -> None:
        self.nats = nats
        self.bucket = bucket
        self.group = group
        self.partitions = {p.consumer.name: p for p in partitions}
        self.stopping = stopping
        self.replica = replica or uuid.uuid4().hex[:12]
        self.view = _View()
        self._revisions: dict[str, int] = {}  # lease key -> revision this replica last wrote
        self._running: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        self._handing_over: set[asyncio.Task[None]] = set()

    @property
    def owned(self) -> list[str]:
        """The consumers this replica pulls now."""
        return sorted(self._running)

    def _member_key(self, replica: str) -> str:
        return f"{self.group}.member.{replica}"

    def _lease_key(self, consumer: str) -> str:
        return f"{self.group}.lease.{consumer}"

    async def run(self) -> None:
        js = self.nats.jetstream()
        config = KeyValueConfig(
            bucket=self.bucket, history=1, ttl=BUCKET_MAX_AGE_SEC, storage=StorageType.FILE
        )
        kv = await _retrying(lambda: ensure_bucket(js, config), self.stopping)
        if kv is None:
            return
        watch = asyncio.create_task(follow_bucket(js, self.bucket, self.view))
        with contextlib.suppress(TimeoutError):  # who owns what, before taking anything
            await asyncio.wait_for(self.view.loaded.wait(), LEASE_SEC)
        # Renewing has a loop of its own: on a replica busy projecting, every await is slow,
        # and renewals queued behind the takes of a balancing round ran out (lost leases).
        renewing = asyncio.create_task(self._every_tick(self._renew_all, kv))
        try:
            await self._every_tick(self._balance, kv)
        finally:
            renewing.cancel()
            watch.cancel()
            await asyncio.gather(renewing, watch, return_exceptions=True)
            await self._release_all(kv)

    async def _every_tick(self, step: Callable[[KeyValue], Awaitable[None]], kv: KeyValue) -> None:
        while not self.stopping.is_set():
            try:
                await step(kv)
            except Exception as error:  # NATS away: the leases run out, others take over
                log.warning("partition leases of %s: %r", self.group, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), RENEW_SEC)

    async def _renew_all(self, kv: KeyValue) -> None:
        """Nothing this replica holds may run out; its membership says it is alive."""
        await asyncio.gather(
            *(self._renew_one(kv, name) for name in self.owned),
            kv.put(self._member_key(self.replica), b"1"),
        )

    async def _balance(self, kv: KeyValue) -> None:
        now = time.monotonic()
        prefix = self._member_key("")
        members = [k[len(prefix) :] for k in self.view.keys if k.startswith(prefix)]
        members = [m for m in members if self.view.alive(self._member_key(m), now)]
        if self.replica not in members:
            members.append(self.replica)  # our own write may not be back from the watch yet
        target = fair_share(len(self.partitions), members, self.replica)
        for name in self.owned[target:]:
            self._release(kv, name)
        wanted = max(0, target - len(self._running))
        await asyncio.gather(*(self._try_take(kv, n) for n in self._free_in_my_order(now)[:wanted]))

    def _free_in_my_order(self, now: float) -> list[str]:
        """Free partitions, starting at a point of this replica's own: fewer collisions."""
        names = sorted(self.partitions)
        start = zlib.crc32(self.replica.encode()) % max(1, len(names))
        rotated = names[start:] + names[:start]
        return [
            n
            for n in rotated
            if n not in self._running and not self.view.alive(self._lease_key(n), now)
        ]

    async def _renew_one(self, kv: KeyValue, name: str) -> None:
        key = self._lease_key(name)
        last = self._revisions.get(key)
        if last is None:  # handed over meanwhile
            return
        try:
            revision = await kv.update(key, self.replica.encode(), last=last)
            if name in self._running:  # not handed over while this was on its way
                self._revisions[key] = revision
        except KeyWrongLastSequenceError:  # it ran out and another replica took it
            log.warning("replica %s lost the lease of %s", self.replica, name)
            self._revisions.pop(key, None)
            if name in self._running:
                self._hand_over(name, None)

    async def _try_take(self, kv: KeyValue, name: str) -> None:
        key = self._lease_key(name)
        seen = self.view.keys.get(key)
        try:
            if seen is not None:
                revision = await kv.update(key, self.replica.encode(), last=seen.revision)
            else:
                revision = await kv.create(key, self.replica.encode())
        except (KeyWrongLastSequenceError, NatsError):
            if seen is None:
                return
            try:  # the stale lease is gone from the bucket meanwhile (its max age)
                revision = await kv.create(key, self.replica.encode())
            except NatsError:
                return  # another replica was faster
        self._revisions[key] = revision
        log.info("replica %s takes %s", self.replica, name)
        self._start_pulling(name)

    def _start_pulling(self, name: str) -> None:
        part = self.partitions[name]
        stop = asyncio.Event()
        task = asyncio.create_task(
            consume(
                self.nats,
                part.consumer,
                part.handle,
                stop,
                wake_after=part.wake_after,
                release=part.release,
            )
        )
        self._running[name] = (stop, task)

    def _release(self, kv: KeyValue, name: str) -> None:
        log.info("replica %s hands %s over", self.replica, name)
        self._hand_over(name, kv)

    def _hand_over(self, name: str, kv: KeyValue | None) -> None:
        """Stop pulling (the batch in hand is finished and acknowledged first), then free the
        lease, in the background: the renewal of the other leases must not wait for it."""
        stop, pulling = self._running.pop(name)
        stop.set()
        key = self._lease_key(name)
        revision = self._revisions.pop(key, None)

        async def hand_over() -> None:
            await asyncio.gather(pulling, return_exceptions=True)
            if kv is not None and revision is not None:
                with contextlib.suppress(Exception):
                    await kv.delete(key, last=revision)

        task = asyncio.create_task(hand_over())
        self._handing_over.add(task)
        task.add_done_callback(self._handing_over.discard)

    async def _release_all(self, kv: KeyValue) -> None:
        """At stop: the others take over at once instead of after LEASE_SEC."""
        for name in self.owned:
            self._hand_over(name, kv)
        await asyncio.gather(*self._handing_over, return_exceptions=True)
        with contextlib.suppress(Exception):
            await kv.delete(self._member_key(self.replica))


async def _retrying(
    make: Callable[[], Awaitable[KeyValue]], stopping: asyncio.Event
) -> KeyValue | None:
    while not stopping.is_set():
        try:
            return await make()
        except Exception as error:
            log.warning("lease bucket unavailable: %s", error)
            await asyncio.sleep(RENEW_SEC)
    return None
