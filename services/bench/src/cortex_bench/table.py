"""The per-level table the CLI prints (the web UI shows the same columns)."""

from cortex_contracts.messages.bench import BenchRunView

COLUMNS = (
    ("load", 8), ("done", 6), ("err", 5), ("req/s", 8), ("out tok/s", 10), ("goodput", 8),
    ("TTFT p50", 9), ("TTFT p99", 9), ("TPOT p50", 9), ("ITL p50", 9), ("E2EL p50", 9),
    ("E2EL p99", 9),
)  # fmt: skip


def _cell(value: float | int | None, digits: int = 1) -> str:
    return (
        "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    )


def render(run: BenchRunView) -> str:
    unit = "req/s" if run.settings.shape == "rate" else "conc."
    header = "  ".join(name.rjust(width) for name, width in COLUMNS)
    lines = [f"{run.summary.model}: {run.summary.status} ({unit} per level, times in ms)", header]
    for level in run.levels:
        s = level.stats
        load = _cell(level.load, 2 if run.settings.shape == "rate" else 0)
        values = (
            load + ("*" if level.partial else ""),
            _cell(s.completed), _cell(s.errors), _cell(s.request_throughput, 2),
            _cell(s.output_throughput), _cell(s.request_goodput, 2),
            _cell(s.ttft_ms.median), _cell(s.ttft_ms.p99), _cell(s.tpot_ms.median),
            _cell(s.itl_ms.median), _cell(s.e2el_ms.median), _cell(s.e2el_ms.p99),
        )  # fmt: skip
        lines.append(
            "  ".join(v.rjust(width) for v, (_, width) in zip(values, COLUMNS, strict=True))
        )
    if any(level.partial for level in run.levels):
        lines.append("* cut short by a cancel")
    if run.summary.best_load is not None:
        lines.append(f"largest concurrency meeting the SLOs: {run.summary.best_load:g}")
    return "\n".join(lines)
