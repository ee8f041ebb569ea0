"""Tamper evidence: a hash chain per subject over every event (docs/audit.md).

An event's hash is sha256(previous hash, subject, payload), carried in its headers with the
previous hash. The previous hash is the subject's newest event's (a direct get), and the publish is
conditional on that event still being the newest, so concurrent publishers on one subject (usage,
audit) cannot fork the chain. Once stored, the subject's head is written to the chain-heads bucket:
deleting a chat's newest event leaves the head pointing at a hash that is no longer there.
"""

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from cortex_contracts.topology import Topology

log = logging.getLogger(__name__)

PREV_HASH = "Cortex-Prev-Hash"
HASH = "Cortex-Hash"
GENESIS = "0" * 64  # the "previous hash" of a subject's first event
# Only for measuring its cost (bench/bench_audit.py): an installation keeps the chain on.
ENABLED = os.environ.get("CORTEX_HASH_CHAIN", "on") != "off"

_CACHE_MAX = 10_000
_STREAM_OF: dict[str, str] = {}
_HEADS: dict[str, "Head"] = {}  # the heads this process wrote last (saves a read per publish)
_LOCKS: dict[str, tuple[asyncio.Lock, int]] = {}  # subject -> its lock, and how many hold/wait


def chain_hash(prev: str, subject: str, payload: bytes) -> str:
    digest = hashlib.sha256(prev.encode())
    digest.update(b"\n" + subject.encode() + b"\n")
    digest.update(payload)
    return digest.hexdigest()


@dataclass(frozen=True)
class Head:
    seq: int  # the subject's newest stream sequence, 0 when it has none
    hash: str


@dataclass(frozen=True)
class HeadAnchor:
    """What the chain-heads bucket holds for a subject (JSON)."""

    seq: int
    hash: str

    def to_bytes(self) -> bytes:
        return json.dumps({"seq": self.seq, "hash": self.hash}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "HeadAnchor":
        value = json.loads(data)
        return cls(seq=int(value["seq"]), hash=str(value["hash"]))


def heads_bucket(subject: str) -> str:
    """Every subject starts with the installation's prefix (topology), which names the bucket."""
    return Topology(prefix=subject.split(".", 1)[0]).chain_heads_bucket


@asynccontextmanager
async def turn(subject: str) -> AsyncIterator[None]:
    """One publish of a subject at a time in this process: publishers of one subject here link
    in turn instead of racing (other replicas' races are settled by the expected sequence)."""
    lock, users = _LOCKS.get(subject, (asyncio.Lock(), 0))
    _LOCKS[subject] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _LOCKS[subject]
        if users == 1:
            del _LOCKS[subject]
        else:
            _LOCKS[subject] = (lock, users - 1)


def known_head(subject: str) -> Head | None:
    return _HEADS.get(subject)


def remember_head(subject: str, head: Head | None) -> None:
    if head is None:
        _HEADS.pop(subject, None)
        return
    if len(_HEADS) >= _CACHE_MAX:
        _HEADS.clear()
    _HEADS[subject] = head


async def read_head(js: JetStreamContext, subject: str) -> Head:
    """The subject's newest event: its sequence and hash (an event from before the chain, or
    none, is GENESIS)."""
    stream = await _stream_of(js, subject)
    try:
        msg = await js.get_last_msg(stream, subject, direct=True)
    except NotFoundError:
        return Head(0, GENESIS)
    return Head(msg.seq or 0, (msg.headers or {}).get(HASH) or GENESIS)


def link(head: Head, subject: str, payload: bytes) -> dict[str, str]:
    return {PREV_HASH: head.hash, HASH: chain_hash(head.hash, subject, payload)}


async def anchor_head(js: JetStreamContext, subject: str, seq: int, hash_: str) -> int | None:
    """Record the subject's new head; the key's new revision. The event is already stored and
    acknowledged, so a failure here only weakens the check of this subject's newest event: logged,
    not raised (None). Two racing publishers may leave the older of their heads: still a hash of
    the chain, so no false alarm. (anchors.py writes heads of busy subjects less often.)"""
    try:
        ack = await js.publish(
            f"$KV.{heads_bucket(subject)}.{subject}", HeadAnchor(seq, hash_).to_bytes()
        )
    except nats.errors.Error as error:
        log.warning("chain head of %s not recorded: %s", subject, error)
        return None
    return ack.seq


async def _stream_of(js: JetStreamContext, subject: str) -> str:
    stream = _STREAM_OF.get(subject)
    if stream is None:
        stream = await js.find_stream_name_by_subject(subject)
        if len(_STREAM_OF) >= _CACHE_MAX:
            _STREAM_OF.clear()
        _STREAM_OF[subject] = stream
    return stream
