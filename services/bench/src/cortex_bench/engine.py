"""What the engine tells about itself: version and context (vLLM `/version`, `/v1/models`), and
its Prometheus gauges sampled during a run (vLLM `/metrics`)."""

import time
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cortex_contracts.events.bench import EngineSample
from cortex_contracts.events.models import Upstream

GAUGES = {
    "vllm:num_requests_running": "num_requests_running",
    "vllm:num_requests_waiting": "num_requests_waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage_perc",  # vLLM >= 0.10
    "vllm:gpu_cache_usage_perc": "kv_cache_usage_perc",  # older vLLM
}
INFO_TIMEOUT_SEC = 3.0


@dataclass(frozen=True)
class EngineInfo:
    version: str | None
    max_context: int | None
    has_metrics: bool


def server_root(upstream: Upstream) -> str:
    return str(upstream.base_url).rstrip("/").removesuffix("/v1")


def _headers(upstream: Upstream) -> dict[str, str]:
    return {"Authorization": f"Bearer {upstream.api_key}"} if upstream.api_key else {}


async def engine_info(client: httpx.AsyncClient, upstream: Upstream) -> EngineInfo:
    """Best effort: an engine that tells nothing leaves the fields empty."""
    root, headers = server_root(upstream), _headers(upstream)
    version = max_context = None
    try:
        if upstream.engine_type == "vllm":
            answer = await client.get(f"{root}/version", headers=headers, timeout=INFO_TIMEOUT_SEC)
            if answer.status_code == 200:
                version = str(answer.json().get("version") or "") or None
        answer = await client.get(f"{root}/v1/models", headers=headers, timeout=INFO_TIMEOUT_SEC)
        if answer.status_code == 200:
            for card in answer.json().get("data") or ():
                if card.get("id") == upstream.served_model_name:
                    max_context = card.get("max_model_len") or None
    except (httpx.HTTPError, ValueError, AttributeError):
        pass
    sample = await sample_metrics(client, upstream, time.perf_counter())
    return EngineInfo(version, max_context, sample is not None)


async def sample_metrics(
    client: httpx.AsyncClient, upstream: Upstream, t0: float
) -> EngineSample | None:
    """The engine's gauges for this model now, or None when it has no such /metrics."""
    try:
        answer = await client.get(
            f"{server_root(upstream)}/metrics", headers=_headers(upstream), timeout=INFO_TIMEOUT_SEC
        )
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    found: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(answer.text):
            for metric in family.samples:
                field = GAUGES.get(metric.name)
                model = metric.labels.get("model_name", upstream.served_model_name)
                if field and model == upstream.served_model_name:
                    found[field] = found.get(field, 0.0) + float(metric.value)
    except ValueError:
        return None
    if not found:
        return None
    return EngineSample(t_s=round(time.perf_counter() - t0, 3), **found)
