"""`cortex-audit verify` of the projections: each projection service is asked over NATS to
compare its tables with a replay of its stream (cortex_runtime.verification), with its progress
shown while it runs."""

from cortex_contracts.messages.verify import ProjectionReport
from cortex_contracts.settings import NatsSettings
from cortex_runtime.connection import connect
from cortex_runtime.query import QueryClient
from cortex_runtime.verification import PROJECTIONS, BarProgress, ask_verify, report_lines


async def verify_projections(
    config: NatsSettings, *, progress: bool, max_differences: int, timeout: float
) -> list[ProjectionReport]:
    """One report per projection service; `QueryFailed` when one does not answer."""
    client = await connect(config.nats_url, "cortex-audit")
    queries = QueryClient(client)
    reports = []
    try:
        for projection in PROJECTIONS:
            bar = BarProgress(projection, progress)
            try:
                report = await ask_verify(
                    queries,
                    config.topology,
                    projection,
                    timeout=timeout,
                    max_differences=max_differences,
                    progress=bar,
                )
            finally:
                bar.close()
            reports.append(report)
    finally:
        await queries.close()
        await client.close()
    return reports


def print_projections(reports: list[ProjectionReport]) -> int:
    """The reports on stdout; 1 when a table drifted from its replay, else 0."""
    for report in reports:
        for line in report_lines(report):
            print(line)
    drift = sum(report.drift for report in reports)
    print("projections: " + (f"{drift} differences" if drift else "every table matches its replay"))
    return 1 if drift else 0
