"""Server-side measurement of one completion, and the figures derived from it.

- TTFT: from the moment the gateway received the request to the first generated token (content,
  reasoning or tool call; a role-only first chunk and empty deltas do not count).
- decode tokens/s: (completion_tokens - 1) / (last token time - first token time), so the wait
  for the first token is excluded.
- end-to-end tokens/s: completion_tokens / total latency.
- inter-token latency: the gaps between token-bearing chunks, divided by the average number of
  tokens per chunk when a server packs several tokens into one chunk.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Meter:
    received: float  # time.perf_counter() when the request arrived
    first_token: float | None = None
    last_token: float | None = None
    token_chunks: int = 0
    gaps: list[float] = field(default_factory=list)

    def token(self, now: float) -> None:
        if self.first_token is None:
            self.first_token = now
        elif self.last_token is not None:
            self.gaps.append(now - self.last_token)
        self.last_token = now
        self.token_chunks += 1


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default method)."""
    position = (len(sorted_values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


def _rate(tokens: int, seconds: float) -> float | None:
    return round(tokens / seconds, 2) if tokens > 0 and seconds > 0 else None


def compute_metrics(
    meter: Meter,
    *,
    ended: float,
    status: str,
    error: str | None,
    finish_reason: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    model: str,
) -> dict[str, Any]:
    latency = max(ended - meter.received, 0.0)
    ttft = None if meter.first_token is None else meter.first_token - meter.received
    decode = None
    if meter.first_token is not None and meter.last_token is not None and completion_tokens > 1:
        decode = _rate(completion_tokens - 1, meter.last_token - meter.first_token)
    itl_p50 = itl_p95 = None
    if meter.gaps:
        per_chunk = max(completion_tokens / meter.token_chunks, 1.0) if meter.token_chunks else 1.0
        gaps = sorted(gap / per_chunk for gap in meter.gaps)
        itl_p50, itl_p95 = _ms(percentile(gaps, 0.50)), _ms(percentile(gaps, 0.95))
    return {
        "status": status,
        "error": error,
        "finish_reason": finish_reason,
        "ttft_ms": _ms(ttft),
        "decode_tokens_per_s": decode,
        "e2e_tokens_per_s": _rate(completion_tokens, latency),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "itl_p50_ms": itl_p50,
        "itl_p95_ms": itl_p95,
        "latency_ms": _ms(latency),
        "model": model,
    }
