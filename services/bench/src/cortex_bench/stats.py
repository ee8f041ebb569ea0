"""A level's figures from its raw samples, as vLLM `bench serve` computes them.

- TTFT: first streamed chunk with content - request sent.
- TPOT: (e2el - TTFT) / (output tokens - 1), per request with more than one output token.
- ITL: every gap between consecutive content chunks, pooled over the level's requests.
- E2EL: last content chunk - request sent.
- request/output/total-token throughput: completed requests, output tokens, input + output
  tokens, each over the level's duration (first request sent to last one done).
- goodput (DistServe, vLLM `--goodput`): completed requests meeting every SLO given, per second.
Percentiles interpolate linearly between ranks (numpy's default), so they can be checked.
"""

import math
from collections.abc import Sequence

from cortex_contracts.events.bench import LevelStats, Percentiles, RequestSample, Slo


def percentile(values: Sequence[float], p: float) -> float:
    """numpy.percentile(values, p) with the default 'linear' method."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> Percentiles:
    if not values:
        return Percentiles()
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))  # numpy's std (ddof 0)
    return Percentiles(
        mean=mean,
        median=percentile(values, 50),
        p90=percentile(values, 90),
        p99=percentile(values, 99),
        std=std,
    )


def tpot_ms(sample: RequestSample) -> float | None:
    if sample.ttft_ms is None or sample.e2el_ms is None or sample.output_tokens < 2:
        return None
    return (sample.e2el_ms - sample.ttft_ms) / (sample.output_tokens - 1)


def is_good(sample: RequestSample, slo: Slo) -> bool:
    if sample.error is not None or sample.ttft_ms is None or sample.e2el_ms is None:
        return False
    tpot = tpot_ms(sample)
    return not (
        (slo.ttft_ms is not None and sample.ttft_ms > slo.ttft_ms)
        or (slo.tpot_ms is not None and tpot is not None and tpot > slo.tpot_ms)
        or (slo.e2el_ms is not None and sample.e2el_ms > slo.e2el_ms)
    )


def level_stats(samples: Sequence[RequestSample], slo: Slo) -> LevelStats:
    done = [s for s in samples if s.error is None and s.e2el_ms is not None]
    if samples:
        first = min(s.start_ms for s in samples)
        last = max(s.start_ms + (s.e2el_ms or 0.0) for s in samples)
        duration_s = max(last - first, 1e-9) / 1000
    else:
        duration_s = 0.0
    input_tokens = sum(s.prompt_tokens for s in done)
    output_tokens = sum(s.output_tokens for s in done)
    per_s = (lambda n: n / duration_s) if duration_s else (lambda n: 0.0)
    good = sum(1 for s in done if is_good(s, slo)) if slo.given else None
    tpots = [t for t in map(tpot_ms, done) if t is not None]
    return LevelStats(
        completed=len(done),
        errors=len(samples) - len(done),
        duration_s=duration_s,
        total_input_tokens=input_tokens,
        total_output_tokens=output_tokens,
        request_throughput=per_s(len(done)),
        output_throughput=per_s(output_tokens),
        total_token_throughput=per_s(input_tokens + output_tokens),
        request_goodput=per_s(good) if good is not None else None,
        slo_attainment=(good / len(samples)) if good is not None and samples else None,
        ttft_ms=summarize([s.ttft_ms for s in done if s.ttft_ms is not None]),
        tpot_ms=summarize(tpots),
        itl_ms=summarize([gap for s in done for gap in s.itl_ms]),
        e2el_ms=summarize([s.e2el_ms for s in done if s.e2el_ms is not None]),
    )
