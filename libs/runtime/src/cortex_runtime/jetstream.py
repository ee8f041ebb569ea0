"""Create the streams and buckets, and publish events with de-duplication and concurrency checks."""

import logging

from nats.js import JetStreamContext
from nats.js.api import PubAck, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from cortex_contracts.envelope import Event
from cortex_contracts.topology import Topology

log = logging.getLogger(__name__)

WRONG_LAST_SEQUENCE = 10071


class ConcurrentWriteError(Exception):
    """Another writer appended to the subject since we read it (optimistic concurrency)."""


async def ensure_streams(js: JetStreamContext, topology: Topology) -> None:
    """Idempotent: creates missing streams and updates changed ones (several replicas may race)."""
    for config in topology.stream_configs():
        await _ensure_stream(js, config)


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
) -> PubAck:
    """Publish and wait for the store's acknowledgement.

    `msg_id` (defaults to the event id) makes retries within the stream's duplicate window no-ops.
    """
    headers = {"Nats-Msg-Id": msg_id or str(event.event_id)}
    if expected_last_subject_seq is not None:
        headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_last_subject_seq)
    try:
        return await js.publish(subject, event.to_bytes(), headers=headers)
    except BadRequestError as error:
        if error.err_code == WRONG_LAST_SEQUENCE:
            raise ConcurrentWriteError(error.description) from error
        raise
