"""cortex-audit verify --integrity"""

import argparse
import asyncio
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from cortex_audit.trail_cli import TRAIL_COMMANDS, add_trail_commands, run_trail_command
from cortex_audit.verify import StreamReport, verify_integrity
from cortex_contracts.settings import NatsSettings
from cortex_devstack.stack import running_nats_url
from cortex_runtime.connection import connect


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
    verify = commands.add_parser("verify", help="check the event store")
    verify.add_argument(
        "--integrity",
        action="store_true",
        required=True,  # the projections' comparison (issue 16) is the next check here
        help="recompute every subject's hash chain; name each event altered, removed or moved",
    )
    verify.add_argument("--no-progress", action="store_true")
    add_trail_commands(commands)
    args = parser.parse_args()
    if args.command in TRAIL_COMMANDS:
        sys.exit(run_trail_command(args, settings()))
    reports = asyncio.run(integrity(settings(), progress=not args.no_progress))
    sys.exit(print_integrity(reports))


if __name__ == "__main__":
    main()
