"""Parking (dead-lettering): an event a consumer cannot use is set aside, never retried forever.

Malformed, oversized and wrong-version events, and events a service's rules reject or that keep
failing, are copied to the dead-letter stream with one header scheme, counted in a metric, and
acknowledged (terminated) by the consumer, so nothing behind them waits:

    Nats-Msg-Id        <consumer>:<stream>:<seq>  (parking twice is a no-op)
    Cortex-Consumer    the durable consumer that parked it
    Cortex-Kind        malformed | oversized | wrong-version | rejected | failing
    Cortex-Reason      what was wrong, for a person
    Cortex-Stream, Cortex-Stream-Seq, Cortex-Subject   where the original is

The original stays in its stream: once the code is fixed, a rebuild (`cortex-<service>
rebuild`) replays it with everything else. An oversized event's copy is cut to its first
`COPY_LIMIT` bytes (`Cortex-Size` holds the whole size), so the copy itself always fits.
"""

import logging
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Counter
from pydantic import ValidationError

from cortex_contracts.topology import Topology
from cortex_runtime.pull import stream_sequence

log = logging.getLogger(__name__)

MALFORMED, OVERSIZED, WRONG_VERSION = "malformed", "oversized", "wrong-version"
REJECTED, FAILING = "rejected", "failing"
COPY_LIMIT = 64 * 1024
PARKED = Counter(
    "cortex_events_parked_total",
    "Events a consumer set aside on the dead-letter stream",
    ["consumer", "kind"],
)


def unreadable_kind(error: ValidationError) -> str:
    """`wrong-version` when the schema version is what the contracts refused, else malformed."""
    for item in error.errors():
        if "schema_version" in item["loc"]:
            return WRONG_VERSION
    return MALFORMED


def oversized(msg: Msg, max_bytes: int) -> str | None:
    """The reason to park `msg` for its size, if it is over `max_bytes`."""
    if len(msg.data) <= max_bytes:
        return None
    return f"oversized event: {len(msg.data)} bytes, more than {max_bytes}"


@dataclass(frozen=True)
class Parking:
    js: JetStreamContext
    topology: Topology
    consumer: str  # the durable consumer's name
    stream: str
    what: str  # how the logs name one event, e.g. "chat event"

    async def park(self, msg: Msg, reason: str, kind: str) -> None:
        """Copy `msg` to the dead-letter stream (the caller then acks or terms it)."""
        seq = stream_sequence(msg)
        log.error("dead-lettering %s seq=%s subject=%s: %s", self.what, seq, msg.subject, reason)
        headers = {
            "Nats-Msg-Id": f"{self.consumer}:{self.stream}:{seq}",
            "Cortex-Consumer": self.consumer,
            "Cortex-Kind": kind,
            "Cortex-Reason": reason[:500],
            "Cortex-Stream": self.stream,
            "Cortex-Stream-Seq": str(seq),
            "Cortex-Subject": msg.subject,
        }
        data = msg.data
        if len(data) > COPY_LIMIT and kind == OVERSIZED:
            headers["Cortex-Size"] = str(len(data))
            data = data[:COPY_LIMIT]
        await self.js.publish(
            self.topology.dead_letter_subject(self.consumer),
            data,
            headers=headers,
            stream=self.topology.dead_letter_stream,
        )
        PARKED.labels(self.consumer, kind).inc()


async def parked_counts(js: JetStreamContext, topology: Topology) -> dict[str, int]:
    """Events parked per consumer (what the dead-letter stream holds), for admins."""
    try:
        info = await js.stream_info(
            topology.dead_letter_stream, subjects_filter=topology.dead_letter_subject(">")
        )
    except NotFoundError:
        return {}
    prefix = topology.dead_letter_subject("")
    return {subject[len(prefix) :]: count for subject, count in (info.state.subjects or {}).items()}
