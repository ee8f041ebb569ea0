"""cortex-audit verify [--integrity] [--projections] | export | timeline"""

import argparse
import asyncio
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from cortex_audit.projections import print_projections, verify_projections
from cortex_audit.trail_cli import TRAIL_COMMANDS, add_trail_commands, run_trail_command
from cortex_audit.verify import StreamReport, verify_integrity
from cortex_contracts.settings import NatsSettings
from cortex_devstack.stack import running_nats_url
from cortex_runtime.connection import connect
from cortex_runtime.query import QueryFailed


def settings() -> NatsSettings:
    """CORTEX_NATS_URL when set; else the NATS of a `make dev` running from this folder."""
    given = os.environ.get("CORTEX_NATS_URL") or os.environ.get("NATS_URL")
    found = None if given else running_nats_url(Path.cwd())
    try:
        return NatsSettings(nats_url=found) if found else NatsSettings()
    except ValidationError as error:
        raise SystemExit(f"cortex-audit: {error.errors()[0]['msg']}") from error


async def integrity(config: NatsSettings, progress: bool) -> list[StreamReport]:
    client = await connect(config.nats_url, "cortex-audit")
    try:
        return await verify_integrity(client.jetstream(), config.topology, progress=progress)
    finally:
        await client.close()


def print_integrity(reports: list[StreamReport]) -> int:
    findings = [finding for report in reports for finding in report.findings]
    for report in reports:
        legacy = f", {report.legacy_events} from before the chain" if report.legacy_events else ""
        print(f"{report.stream}: {report.events} events{legacy}, {len(report.findings)} findings")
    for finding in findings:
        print(finding)
    print("integrity: " + (f"{len(findings)} findings" if findings else "every chain intact"))
    return 1 if findings else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-audit")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify", help="check the event store and the projections (both unless told which)"
    )
    verify.add_argument(
        "--integrity",
        action="store_true",
        help="recompute every subject's hash chain; name each event altered, removed or moved",
    )
    verify.add_argument(
        "--projections",
        action="store_true",
        help="compare the sessions and usage tables row by row with a replay of their streams",
    )
    verify.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    verify.add_argument("--max-differences", type=int, default=1000, help="listed per projection")
    verify.add_argument("--timeout", type=float, default=3600.0, help="seconds per projection")
    add_trail_commands(commands)
    args = parser.parse_args()
    if args.command in TRAIL_COMMANDS:
        sys.exit(run_trail_command(args, settings()))
    sys.exit(run_verify(args))


def run_verify(args: argparse.Namespace) -> int:
    """Exit status: 0 all intact, 1 findings or drift, 2 a projection service did not answer."""
    both = not (args.integrity or args.projections)
    config, status = settings(), 0
    if args.integrity or both:
        reports = asyncio.run(integrity(config, progress=not args.no_progress))
        status = max(status, print_integrity(reports))
    if args.projections or both:
        try:
            checked = asyncio.run(
                verify_projections(
                    config,
                    progress=not args.no_progress,
                    max_differences=args.max_differences,
                    timeout=args.timeout,
                )
            )
        except QueryFailed as error:
            print(f"cortex-audit: {error}", file=sys.stderr)
            return 2
        status = max(status, print_projections(checked))
    return status


if __name__ == "__main__":
    main()
