"""What happens when a completion ends: the assistant's answer is recorded in its chat session, and
a usage event is published. Both run in a task of their own (never cancelled with the request),
wait for JetStream's acknowledgement, and retry with the same message id, so a retry never
duplicates and an acknowledged event is never lost. A completion that ran to its end is answered
(`[DONE]`, the whole answer) only once they are stored (`relay.recorded`): the chaos suite's
gateway kill found usage records of finished streams missing when the gateway died just after.
"""

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cortex_contracts.envelope import Actor
from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.storable import document_problem, storable_document, storable_text
from cortex_gateway.chat.commands import ChatCommands, ModelLocked, SessionNotFound
from cortex_gateway.completions.meter import compute_metrics
from cortex_gateway.completions.run import CompletionRun
from cortex_gateway.completions.runtime import CompletionRuntime
from cortex_runtime.jetstream import publish_event

log = logging.getLogger(__name__)

ATTEMPTS = 6
FIRST_BACKOFF_SEC = 0.2


async def settle_metrics(state: CompletionRuntime, run: CompletionRun) -> dict[str, Any]:
    """The run's metrics, computed once (the client's event and the stored copy are the same)."""
    if run.metrics is None:
        prompt_tokens, completion_tokens = await token_totals(state, run)
        run.metrics = compute_metrics(
            run.meter,
            ended=run.ended if run.ended is not None else time.perf_counter(),
            status=run.status or "abandoned",
            error=run.error,
            finish_reason=run.finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=run.model,
        )
        if run.session_id is not None:  # a playground turn: kept with its message
            run.metrics["inspect"] = inspect_record(run)
    return run.metrics


def inspect_record(run: CompletionRun) -> dict[str, Any]:
    head = None
    answered = run.exchange.head if run.exchange is not None else None
    if (
        answered is not None
        and answered.done()
        and not answered.cancelled()
        and answered.exception() is None
    ):
        head = (answered.result().status, answered.result().headers)
    return run.inspection.record(head=head, usage=run.usage)


async def token_totals(state: CompletionRuntime, run: CompletionRun) -> tuple[int, int]:
    """From the upstream's usage; else counted with the engine's tokenizer (or estimated)."""
    usage = run.usage or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    upstream = run.upstream
    if not isinstance(prompt, int):
        prompt = 0
        if upstream is not None and run.upstream_accepted:
            counted = await state.engines.count_tokens(upstream, messages=run.client.messages)
            prompt = counted.count
    if not isinstance(completion, int):
        completion = 0
        produced = "".join(run.reasoning) + run.text
        if upstream is not None and produced:
            counted = await state.engines.count_tokens(upstream, text=produced)
            # Every token-bearing chunk holds at least one token.
            completion = max(counted.count, run.meter.token_chunks)
    return prompt, completion


async def finish(state: CompletionRuntime, run: CompletionRun) -> None:
    if run.exchange is not None:
        run.exchange.close()  # a stopped or abandoned stream: the engine stops generating
    if run.stop_subscription is not None:
        with contextlib.suppress(Exception):  # the connection may be closing
            await run.stop_subscription.stop()
    try:
        metrics = await settle_metrics(state, run)
    except Exception:
        log.exception("completion %s: metrics failed", run.id)
        metrics = compute_metrics(
            run.meter,
            ended=run.ended or time.perf_counter(),
            status=run.status or "abandoned",
            error=run.error,
            finish_reason=run.finish_reason,
            prompt_tokens=0,
            completion_tokens=run.meter.token_chunks,
            model=run.model,
        )
    if run.session_id is not None:
        await record_answer(state, run, metrics)
    await publish_usage(state, run, metrics)


async def record_answer(
    state: CompletionRuntime, run: CompletionRun, metrics: dict[str, Any]
) -> None:
    session_id = run.session_id
    assert session_id is not None
    commands = ChatCommands(state.js, state.topology)

    # What the model wrote is stored as the projection can keep it (a NUL from a model server
    # would otherwise get the whole answer refused there): the text, and the metrics, whose
    # inspector record holds the chunks as sent.
    content = storable_text(run.text)
    unstorable = document_problem(metrics, max_depth=sys.maxsize, finite_only=False)
    stored_metrics = storable_document(metrics) if unstorable else metrics

    async def write() -> None:
        try:
            await commands.add_message(
                run.principal,
                session_id,
                role="assistant",
                content=content,
                metrics_json=stored_metrics,
                model_name=run.model,
                idempotency_key=f"answer:{run.id}",
            )
        except (SessionNotFound, ModelLocked) as gone:
            log.info("completion %s: answer not recorded (%s)", run.id, type(gone).__name__)

    await _with_retries(write, f"assistant message of completion {run.id}")


def usage_event(run: CompletionRun, metrics: dict[str, Any]) -> CompletionRecorded:
    return CompletionRecorded(
        aggregate_id=run.id,
        actor=Actor(user_id=run.principal.user_id, org_id=run.principal.org_id),
        api_key_id=run.principal.api_key_id,
        model=run.model,
        engine_type=run.engine_type,
        source=run.source,
        stream=run.client.stream,
        status=run.status or "abandoned",
        error=run.error,
        http_status=run.http_status,
        prompt_tokens=metrics["prompt_tokens"],
        completion_tokens=metrics["completion_tokens"],
        total_tokens=metrics["total_tokens"],
        ttft_ms=metrics["ttft_ms"],
        latency_ms=metrics["latency_ms"] or 0.0,
        decode_tokens_per_s=metrics["decode_tokens_per_s"],
        chat_session_id=run.session_id,
        finish_reason=run.finish_reason,
    )


async def publish_usage(
    state: CompletionRuntime, run: CompletionRun, metrics: dict[str, Any]
) -> None:
    event = usage_event(run, metrics)
    subject = state.topology.usage_subject(run.model)

    async def write() -> None:
        # a model's usage subject takes an event per completion: its head is written less often
        await publish_event(state.js, subject, event, coalesce_head=True)

    if not await _with_retries(write, f"usage event of completion {run.id}"):
        log.error("usage event not stored, here it is for replay: %s", event.model_dump_json())


async def _with_retries(write: Callable[[], Awaitable[None]], what: str) -> bool:
    delay = FIRST_BACKOFF_SEC
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await write()
            return True
        except Exception as error:  # NATS down or slow: the message id makes a retry safe
            if attempt == ATTEMPTS:
                log.error("%s failed after %d attempts: %s", what, attempt, error)
                return False
            log.warning("%s failed (attempt %d): %s; retrying", what, attempt, error)
            await asyncio.sleep(delay)
            delay *= 2
    return False
