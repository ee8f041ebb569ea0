"""A run's per-level figures as CSV: one row per level, the columns vLLM `bench serve` prints."""

import csv
import io

from cortex_contracts.messages.bench import BenchRunView

METRICS = ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms")
STATS = ("mean", "median", "p90", "p99")
COUNTS = (
    "completed", "errors", "duration_s", "total_input_tokens", "total_output_tokens",
    "request_throughput", "output_throughput", "total_token_throughput", "request_goodput",
    "slo_attainment",
)  # fmt: skip


def csv_export(run: BenchRunView) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    figures = [f"{metric.removesuffix('_ms')}_{stat}_ms" for metric in METRICS for stat in STATS]
    writer.writerow(["run_id", "model", "shape", "level", "load", "partial", "slo_passed",
                     *COUNTS, *figures])  # fmt: skip
    for level in run.levels:
        stats = level.stats
        values = [getattr(getattr(stats, metric), stat) for metric in METRICS for stat in STATS]
        writer.writerow([
            run.summary.id, run.summary.model, run.summary.shape, level.index, level.load,
            level.partial, level.slo_passed, *(getattr(stats, name) for name in COUNTS),
            *("" if value is None else round(value, 3) for value in values),
        ])  # fmt: skip
    return buffer.getvalue()
