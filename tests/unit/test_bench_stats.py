"""A level's figures follow vLLM `bench serve`'s definitions, and percentiles match numpy's."""

import random

import numpy as np
import pytest
from pydantic import ValidationError

from cortex_bench import stats
from cortex_bench.levels import SLICE_BYTES, _slices
from cortex_contracts.events.bench import RequestSample, RunSettings, Slo

pytestmark = pytest.mark.unit


def sample(start: float, ttft: float, gaps: list[float], out: int | None = None) -> RequestSample:
    return RequestSample(
        start_ms=start,
        ttft_ms=ttft,
        e2el_ms=ttft + sum(gaps),
        itl_ms=gaps,
        prompt_tokens=10,
        output_tokens=out if out is not None else len(gaps) + 1,
    )


def test_percentiles_are_numpys() -> None:
    rng = random.Random(3)
    for size in (1, 2, 7, 100, 1001):
        values = [rng.lognormvariate(3, 1) for _ in range(size)]
        for p in (50, 90, 99):
            assert stats.percentile(values, p) == pytest.approx(np.percentile(values, p))
        summary = stats.summarize(values)
        assert summary.mean == pytest.approx(np.mean(values))
        assert summary.std == pytest.approx(np.std(values))


def test_level_figures_and_goodput() -> None:
    samples = [
        sample(0, 100, [10, 10, 10]),  # tpot 10, e2el 130
        sample(50, 300, [20, 20, 20]),  # tpot 20, e2el 360: misses the TTFT SLO
        sample(100, 100, []),  # one token: no TPOT
        RequestSample(start_ms=120, error="HTTP 503: busy"),
    ]
    figures = stats.level_stats(samples, Slo(ttft_ms=200))
    assert figures.completed == 3 and figures.errors == 1
    assert figures.duration_s == pytest.approx(0.410)  # first sent (0) to last done (50 + 360)
    assert figures.request_throughput == pytest.approx(3 / 0.410)
    assert figures.total_output_tokens == 4 + 4 + 1
    assert figures.output_throughput == pytest.approx(9 / 0.410)
    assert figures.total_token_throughput == pytest.approx((30 + 9) / 0.410)
    assert figures.tpot_ms.mean == pytest.approx(15)  # (10 + 20) / 2: the one-token answer has none
    assert figures.itl_ms.median == pytest.approx(15)  # six gaps pooled
    assert figures.request_goodput == pytest.approx(2 / 0.410)
    assert figures.slo_attainment == pytest.approx(2 / 4)  # the error counts against it
    assert stats.level_stats(samples, Slo()).request_goodput is None


def test_tpot_uses_the_reported_token_count() -> None:
    # Chunks may carry several tokens: TPOT divides by the engine's token count, not chunks.
    chunked = sample(0, 100, [40, 40], out=9)
    assert stats.tpot_ms(chunked) == pytest.approx(80 / 8)


def test_raw_samples_are_sliced_under_a_message() -> None:
    big = [sample(i, 100, [1.234] * 2000) for i in range(40)]
    parts = _slices(big)
    assert [s for part in parts for s in part] == big
    assert all(sum(len(s.model_dump_json()) for s in part) <= SLICE_BYTES for part in parts)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"levels": [1, 2.5]}, "whole numbers"),
        ({"levels": []}, "at least 1"),
        ({"shape": "slo_search", "levels": [1, 8]}, "needs at least one SLO"),
        ({"shape": "slo_search", "levels": [8, 1], "slo": {"ttft_ms": 1}}, "[lowest, highest]"),
        ({"requests_per_level": None}, "either requests_per_level or duration_per_level_sec"),
        ({"prompt": {"kind": "jsonl"}}, "at least one prompt"),
    ],
)
def test_bad_settings_say_what_is_wrong(settings: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("[", r"\[").replace("]", r"\]")):
        RunSettings.model_validate({"model": "m", **settings})
