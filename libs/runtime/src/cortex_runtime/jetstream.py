"""Create the streams and buckets, and publish events with de-duplication and concurrency checks."""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck, StreamConfig
from nats.js.errors import (
    APIError,
    BadRequestError,
    NoStreamResponseError,
    NotFoundError,
    ServiceUnavailableError,
)

from cortex_contracts.envelope import Event
from cortex_contracts.topology import Topology
from cortex_runtime import anchors, chain
from cortex_runtime.kv import ensure_bucket

log = logging.getLogger(__name__)
T = TypeVar("T")

WRONG_LAST_SEQUENCE = 10071
# A clustered stream's leader answers the same conflict with a code of its own.
WRONG_LAST_SEQUENCE_CLUSTERED = 10164
CONFLICTS = (WRONG_LAST_SEQUENCE, WRONG_LAST_SEQUENCE_CLUSTERED)
# A clustered stream still settling an earlier attempt with this message id (no quorum yet).
MSG_ID_IN_PROCESS = 10158
EXPECTED_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
MSG_ID = "Nats-Msg-Id"
CHAIN_ATTEMPTS = 20  # concurrent publishers on one subject (usage of one model) link in turn
# A publish rides out a stream leader election (no responders for a few seconds) or a lost
# acknowledgement: it is sent again, with the SAME Nats-Msg-Id so that JetStream stores it once,
# for at most PUBLISH_RETRY_SEC in all (each attempt's wait is cut to what is left), backing off
# from RETRY_FIRST_WAIT_SEC, doubling up to RETRY_MAX_WAIT_SEC. Then the error is raised (the
# gateway answers 503 with Retry-After).
PUBLISH_RETRY_SEC = 5.0
RETRY_FIRST_WAIT_SEC = 0.05
RETRY_MAX_WAIT_SEC = 1.0
RETRIED = (nats.errors.TimeoutError, NoStreamResponseError, ServiceUnavailableError)


def _retried(error: Exception) -> bool:
    if isinstance(error, RETRIED):
        return True
    return isinstance(error, APIError) and error.err_code == MSG_ID_IN_PROCESS


class ConcurrentWriteError(Exception):
    """Another writer appended to the subject since we read it (optimistic concurrency)."""


async def ensure_streams(js: JetStreamContext, topology: Topology) -> None:
    """Idempotent: creates missing streams and updates changed ones (several replicas may race)."""
    for config in topology.stream_configs():
        await _ensure_stream(js, config)
    await ensure_bucket(js, topology.chain_heads_bucket_config())


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except BadRequestError:
            log.debug("stream %s created concurrently", config.name)
    await js.update_stream(config)


async def publish_event(
    js: JetStreamContext,
    subject: str,
    event: Event,
    *,
    expected_last_subject_seq: int | None = None,
    msg_id: str | None = None,
    coalesce_head: bool = False,
) -> PubAck:
    """Publish and wait for the store's acknowledgement; every event is linked into its subject's
    hash chain here (cortex_runtime.chain), the one publish path of every service.

    `msg_id` (defaults to the event id) makes retries within the stream's duplicate window no-ops.
    With `expected_last_subject_seq`, a subject that moved on raises ConcurrentWriteError (the
    caller decides again); without it, a concurrent publisher on the subject means linking to the
    new newest event and publishing again. `coalesce_head`: the subject's head is written at most
    once per interval (anchors.py), for subjects that take many events a second (usage).

    A task cancelled while it publishes is cancelled, also when the cancel came just as a reply
    arrived: nats-py awaits every reply with asyncio.wait_for, which before Python 3.12 then
    returns the reply and drops the cancel (a task cancelled to stop would go on for good).
    """
    task = asyncio.current_task()
    cancels = task.cancelling() if task is not None else 0
    headers = {MSG_ID: msg_id or str(event.event_id)}
    payload = event.to_bytes()
    if not chain.ENABLED:
        if expected_last_subject_seq is not None:
            headers[EXPECTED_SUBJECT_SEQ] = str(expected_last_subject_seq)
        ack = await _publish(js, subject, payload, headers)
    else:
        async with chain.turn(subject):
            ack = await _publish_linked(
                js, subject, payload, headers, expected_last_subject_seq, coalesce_head
            )
    if task is not None and task.cancelling() > cancels:
        raise asyncio.CancelledError  # the event is stored; the cancel was dropped on the way
    return ack


async def _publish_linked(
    js: JetStreamContext,
    subject: str,
    payload: bytes,
    headers: dict[str, str],
    expected: int | None,
    coalesce_head: bool,
) -> PubAck:
    head = chain.known_head(subject)
    for attempt in range(CHAIN_ATTEMPTS):
        if head is None or (expected is not None and head.seq != expected):
            # Not known here, or another wrote since; read from a replica, which may be
            # between leaders too.
            head = await retrying(js, lambda _: chain.read_head(js, subject), f"head of {subject}")
        if expected is not None and head.seq != expected:
            raise ConcurrentWriteError(f"{subject} is at {head.seq}, not {expected}")
        link = chain.link(head, subject, payload)
        try:
            ack = await _publish(
                js, subject, payload, {**headers, **link, EXPECTED_SUBJECT_SEQ: str(head.seq)}
            )
        except ConcurrentWriteError:
            chain.remember_head(subject, None)
            if expected is not None or attempt == CHAIN_ATTEMPTS - 1:
                raise
            head = None
            await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
            continue
        if ack.duplicate:  # stored before: the head is that event, which we do not know here
            chain.remember_head(subject, None)
            return ack
        head = chain.Head(ack.seq, link[chain.HASH])
        chain.remember_head(subject, head)
        await anchors.anchor(js, subject, head, coalesce=coalesce_head)
        return ack
    raise AssertionError("unreachable")


async def _publish(
    js: JetStreamContext, subject: str, payload: bytes, headers: dict[str, str]
) -> PubAck:
    """One message, sent again on RETRIED errors within PUBLISH_RETRY_SEC. An attempt whose
    acknowledgement was lost may have been stored: the next attempt is then a duplicate (same
    message id), or fails the expected-sequence check that JetStream makes first; either way
    the message stored is this one, which the caller gets as a first-time success."""
    attempts = 0

    async def attempt(timeout: float) -> PubAck:
        nonlocal attempts
        attempts += 1
        return await js.publish(subject, payload, timeout=timeout, headers=headers)

    try:
        ack = await retrying(js, attempt, f"publish to {subject}")
    except BadRequestError as error:
        if error.err_code not in CONFLICTS:
            raise
        landed = await _landed(js, subject, headers) if attempts > 1 else None
        if landed is None:
            raise ConcurrentWriteError(error.description) from error
        return landed
    return replace(ack, duplicate=False) if attempts > 1 else ack


async def retrying(js: JetStreamContext, call: Callable[[float], Awaitable[T]], what: str) -> T:
    """`call(timeout)` until it does not fail with a RETRIED error, within PUBLISH_RETRY_SEC:
    each attempt's timeout is the context's own (private in nats-py), cut to what is left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PUBLISH_RETRY_SEC
    wait = RETRY_FIRST_WAIT_SEC
    while True:
        try:
            return await call(min(js._timeout, max(deadline - loop.time(), RETRY_FIRST_WAIT_SEC)))
        except (*RETRIED, APIError) as error:
            if not _retried(error):
                raise
            if loop.time() + wait >= deadline:
                if isinstance(error, RETRIED):
                    raise
                # Still "in process" (a cluster without quorum): not stored within the bound.
                raise nats.errors.TimeoutError from error
            log.info("%s: %r; again in %.2f s", what, error, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_MAX_WAIT_SEC)


async def _landed(js: JetStreamContext, subject: str, headers: dict[str, str]) -> PubAck | None:
    """The subject's newest message when it is the one sent with `headers` (an earlier attempt
    of ours that was stored), else None."""
    stream = await js.find_stream_name_by_subject(subject)
    try:
        newest = await js.get_last_msg(stream, subject, direct=True)
    except NotFoundError:
        return None
    if (newest.headers or {}).get(MSG_ID) != headers[MSG_ID] or newest.seq is None:
        return None
    return PubAck(stream=stream, seq=newest.seq)
