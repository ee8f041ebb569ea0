"""Request-reply over core NATS with the services that answer queries (sessions, usage, ...).

Every responder answers either its reply model or an `ErrorReply`; the latter, a timeout or no
responder at all become `QueryFailed`, which the app turns into a JSON error with its status.
"""

import json
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from cortex_contracts.messages import ErrorReply


class QueryFailed(Exception):
    """A query the responding service refused, or that nobody answered in time."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.error)
        self.reply = reply


async def request_reply(
    nats: NatsClient, subject: str, query: BaseModel, *, timeout: float, service: str
) -> dict[str, Any]:
    """The responder's answer as a JSON object; `service` names it in the 503 message."""
    try:
        message = await nats.request(subject, query.model_dump_json().encode(), timeout=timeout)
    except (NatsTimeout, NoRespondersError) as error:
        raise QueryFailed(
            ErrorReply(error=f"The {service} service is not answering.", status=503, retry_after=1)
        ) from error
    payload = json.loads(message.data)
    if not isinstance(payload, dict):
        raise QueryFailed(ErrorReply(error=f"The {service} service answered nonsense.", status=502))
    if "error" in payload:
        raise QueryFailed(ErrorReply.model_validate(payload))
    return payload
