"""Stopping a running completion on the user's request (the playground's Stop button).

The replica that relays the stream answers on the completion's own NATS subject, so a stop sent
to any replica reaches it. It closes the upstream exchange at once (the engine stops generating),
and the stream to the client ends cleanly with status `stopped` (the text so far is kept),
instead of `abandoned` as when the client merely disconnects.
"""

from cortex_contracts.messages.completions import CompletionStopped, StopCompletion
from cortex_gateway.completions.run import CompletionRun
from cortex_gateway.completions.runtime import CompletionRuntime
from cortex_runtime.query import QueryFailed
from cortex_runtime.responder import Responder

REQUEST_TIMEOUT_SEC = 2.0


async def listen_for_stop(
    state: CompletionRuntime, run: CompletionRun
) -> Responder[StopCompletion]:
    async def on_stop(request: StopCompletion) -> CompletionStopped:
        if request.user_id != run.principal.user_id or run.status is not None:
            return CompletionStopped(stopped=False)
        run.stop_requested = True
        if run.exchange is not None:
            run.exchange.close()
        return CompletionStopped(stopped=True)

    subject = state.topology.completion_stop_subject(run.id)
    responder = Responder(
        state.nats, subject, StopCompletion, on_stop, queue=None, workers=1, service="gateway"
    )
    await responder.start()
    return responder


async def request_stop(state: CompletionRuntime, completion_id: str, user_id: str) -> bool:
    subject = state.topology.completion_stop_subject(completion_id)
    try:
        reply = await state.queries.ask_for(
            subject,
            StopCompletion(user_id=user_id),
            CompletionStopped,
            timeout=REQUEST_TIMEOUT_SEC,
            service="gateway",
        )
    except QueryFailed:  # nobody relays it (any more)
        return False
    return reply.stopped
