"""Engine-aware liveness probes, each bounded by a timeout.

vLLM: `GET /health` (200 = up), context from `GET /v1/models` (`max_model_len`).
llama.cpp: `GET /health` (200 = up, 503 = still loading the model), per-request context from
`GET /props` (`default_generation_settings.n_ctx`: the context of one slot).
Other OpenAI-compatible servers: `GET /v1/models` (200 = up).
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from cortex_contracts.events.models import HealthStatus, Upstream

ERROR_TEXT_LIMIT = 300


@dataclass(frozen=True)
class ProbeResult:
    status: HealthStatus
    latency_ms: float | None = None
    error: str | None = None
    max_model_len: int | None = None


@dataclass(frozen=True)
class _Liveness:
    status: HealthStatus
    error: str | None = None
    models_payload: Any = None  # the /v1/models answer when that was the liveness request


def server_root(upstream: Upstream) -> str:
    """Base URL without a trailing `/v1`: probes address the server's own paths."""
    root = str(upstream.base_url).rstrip("/")
    return root.removesuffix("/v1")


def _headers(upstream: Upstream) -> dict[str, str]:
    return {"Authorization": f"Bearer {upstream.api_key}"} if upstream.api_key else {}


async def probe(
    client: httpx.AsyncClient,
    upstream: Upstream,
    timeout: float,
    want_context: bool = True,
) -> ProbeResult:
    """Never raises for upstream trouble and never takes (much) longer than `timeout`."""
    root, headers = server_root(upstream), _headers(upstream)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            live = await _liveness(client, upstream.engine_type, root, headers)
    except TimeoutError:
        return ProbeResult("unhealthy", error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as error:
        return ProbeResult(
            "unhealthy",
            latency_ms=_elapsed_ms(started),
            error=_describe(error),
        )
    latency_ms = _elapsed_ms(started)
    max_model_len = None
    if live.status == "healthy" and want_context:
        remaining = max(timeout - latency_ms / 1000, 0.001)
        max_model_len = await _context_length(client, upstream, root, headers, live, remaining)
    return ProbeResult(live.status, latency_ms, live.error, max_model_len)


# What answers "up": its status, or for servers with no health route, the model list.
_LIVENESS_PATH = {"vllm": "/health", "llamacpp": "/health", "openai": "/v1/models"}


async def _liveness(
    client: httpx.AsyncClient, engine_type: str, root: str, headers: dict[str, str]
) -> _Liveness:
    path = _LIVENESS_PATH[engine_type]
    response = await client.get(f"{root}{path}", headers=headers)
    if response.status_code == 200:
        models = _json_or_none(response) if path == "/v1/models" else None
        return _Liveness("healthy", models_payload=models)
    if response.status_code == 503 and engine_type == "llamacpp":  # until the model is loaded
        return _Liveness("loading", _status_error(path, response))
    return _Liveness("unhealthy", _status_error(path, response))


async def _context_length(
    client: httpx.AsyncClient,
    upstream: Upstream,
    root: str,
    headers: dict[str, str],
    live: _Liveness,
    timeout: float,
) -> int | None:
    """Best effort: a slow or odd metadata answer never turns a healthy server unhealthy."""
    try:
        async with asyncio.timeout(timeout):
            if upstream.engine_type == "llamacpp":
                props = _json_or_none(await client.get(f"{root}/props", headers=headers))
                return _positive_int(_dig(props, "default_generation_settings", "n_ctx"))
            payload = live.models_payload
            if payload is None:
                payload = _json_or_none(await client.get(f"{root}/v1/models", headers=headers))
            return _max_model_len(payload, upstream.served_model_name)
    except (TimeoutError, httpx.HTTPError):
        return None


def _max_model_len(payload: Any, served_model_name: str) -> int | None:
    cards = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(cards, list):
        return None
    cards = [card for card in cards if isinstance(card, dict)]
    named = [card for card in cards if card.get("id") == served_model_name]
    for card in named or cards[:1]:
        return _positive_int(card.get("max_model_len"))
    return None


def _dig(payload: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _json_or_none(response: httpx.Response) -> Any:
    return _json_any(response) if response.status_code == 200 else None


def _status_error(path: str, response: httpx.Response) -> str:
    message = _dig(_json_any(response), "error", "message")
    detail = message if isinstance(message, str) else response.text.strip()
    text = f"{path} answered {response.status_code}" + (f": {detail}" if detail else "")
    return text[:ERROR_TEXT_LIMIT]


def _json_any(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _describe(error: httpx.HTTPError) -> str:
    text = f"{type(error).__name__}: {error}".strip().rstrip(":")
    return text[:ERROR_TEXT_LIMIT]


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
