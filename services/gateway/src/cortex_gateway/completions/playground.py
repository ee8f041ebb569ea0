"""The playground path: a completion tied to a chat session (header `X-Chat-Session-Id`).

Before streaming: the session must be the caller's, the model lock is enforced, and the user's turn
is recorded. The answer is recorded when the stream ends (see finish.py). The events go through
`ChatCommands`, like every other chat write.
"""

import uuid

from cortex_contracts.events.models import Upstream
from cortex_contracts.storable import text_problem
from cortex_gateway.auth.principal import Principal
from cortex_gateway.chat.aggregate import load_session
from cortex_gateway.chat.commands import ChatCommands, ModelLocked, SessionNotFound
from cortex_gateway.completions.errors import CompletionError
from cortex_gateway.completions.request import ClientRequest
from cortex_gateway.completions.runtime import CompletionRuntime
from cortex_gateway.models.catalog import constraints_of

SESSION_HEADER = "X-Chat-Session-Id"
REGENERATE_HEADER = "X-Chat-Regenerate"


async def bind_session(
    state: CompletionRuntime,
    principal: Principal,
    raw_session_id: str,
    client: ClientRequest,
    upstream: Upstream,
    *,
    regenerate: bool,
    idempotency_key: str | None,
) -> str:
    """Check the session and record the user's turn; returns the session id."""
    try:
        session_id = str(uuid.UUID(raw_session_id))
        return await _bind(
            state, principal, session_id, client, upstream, regenerate, idempotency_key
        )
    except (ValueError, SessionNotFound):
        raise CompletionError(404, "Chat session not found.", code="session_not_found") from None
    except ModelLocked as locked:
        raise CompletionError(409, str(locked), code="model_locked") from None


async def _bind(
    state: CompletionRuntime,
    principal: Principal,
    session_id: str,
    client: ClientRequest,
    upstream: Upstream,
    regenerate: bool,
    idempotency_key: str | None,
) -> str:
    text = None if regenerate else client.last_user_text()
    tool = None if regenerate else client.tool_result()
    if tool is not None:
        text = tool[1]
    if text is not None:  # checked before anything is written, as the chat API checks it
        problem = text_problem(text)  # (the sessions projection would refuse it later)
        if problem:
            raise CompletionError(422, f"The message content {problem}.", code="invalid_content")
        limit = state.settings.max_message_bytes
        if len(text.encode()) > limit:
            raise CompletionError(413, f"Message content is over the limit of {limit} bytes.")
    session = await load_session(state.js, state.topology, principal.user_id, session_id)
    if session is None or session.deleted:
        raise SessionNotFound
    commands = ChatCommands(state.js, state.topology)
    model = upstream.served_model_name
    if session.model_name != model:
        if session.has_messages:
            raise ModelLocked(session.model_name, model)
        # No message yet: the chat may still switch models (the lock starts with a message).
        await commands.change_model(
            principal,
            session_id,
            model_name=model,
            engine_type=upstream.engine_type,
            constraints_json=constraints_of(upstream),
        )
    if text is not None:
        await commands.add_message(
            principal,
            session_id,
            role="user" if tool is None else "tool",
            content=text,
            # A tool's answer keeps the call it answers, so the chat can be sent on from the store.
            metrics_json=None if tool is None else {"tool_call_id": tool[0]},
            model_name=model,  # checked again atomically: another tab may have locked it
            idempotency_key=idempotency_key,
        )
    return session_id
