"""Stopping a running completion on the user's request (the playground's Stop button).

The replica that relays the stream listens on the completion's own NATS subject, so a stop sent
to any replica reaches it. It closes the upstream exchange at once (the engine stops generating),
and the stream to the client ends cleanly with status `stopped` (the text so far is kept),
instead of `abandoned` as when the client merely disconnects.
"""

import contextlib

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from cortex_gateway.completions.run import CompletionRun
from cortex_gateway.state import AppState

STOPPED = b"stopped"
NOT_FOUND = b"not-found"
REQUEST_TIMEOUT_SEC = 2.0


async def listen_for_stop(state: AppState, run: CompletionRun) -> Subscription:
    async def on_stop(msg: Msg) -> None:
        if msg.data.decode() != run.principal.user_id or run.status is not None:
            await msg.respond(NOT_FOUND)
            return
        run.stop_requested = True
        if run.exchange is not None:
            run.exchange.close()
        await msg.respond(STOPPED)

    subject = state.topology.completion_stop_subject(run.id)
    return await state.nats.subscribe(subject, cb=on_stop)


async def request_stop(state: AppState, completion_id: str, user_id: str) -> bool:
    subject = state.topology.completion_stop_subject(completion_id)
    with contextlib.suppress(nats.errors.NoRespondersError, nats.errors.TimeoutError):
        reply = await state.nats.request(subject, user_id.encode(), timeout=REQUEST_TIMEOUT_SEC)
        return reply.data == STOPPED
    return False
