"""`cortex-admin backup FILE` | `cortex-admin restore FILE`: the event store to one file and
back (cortex_runtime.backup; docs/reliability.md has the operator's procedure). NATS is the
one of CORTEX_NATS_URL, as for every service."""

import argparse
import asyncio
import sys
import time
from pathlib import Path

from cortex_contracts.settings import NatsSettings
from cortex_runtime.backup import BackupError, Summary, backup, restore
from cortex_runtime.connection import connect

TIMEOUT_SEC = 30.0  # a JetStream answer during a backup of a busy system


async def _run(command: str, path: Path) -> Summary:
    nc = await connect(NatsSettings().nats_url, name=f"cortex-admin {command}")
    try:
        js = nc.jetstream(timeout=TIMEOUT_SEC)
        return await (backup(js, path) if command == "backup" else restore(js, path))
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-admin")
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("backup", help="every stream and KV bucket to FILE")
    made.add_argument("file", type=Path)
    loaded = commands.add_parser("restore", help="FILE into a NATS that has no stream yet")
    loaded.add_argument("file", type=Path)
    args = parser.parse_args()
    started = time.monotonic()
    try:
        summary = asyncio.run(_run(args.command, args.file))
    except (BackupError, OSError) as error:
        print(f"cortex-admin {args.command}: {error}", file=sys.stderr)
        sys.exit(1)
    print(
        f"{args.command}: {summary.streams} streams, {summary.messages} messages"
        f" in {time.monotonic() - started:.1f} s ({args.file})"
    )


if __name__ == "__main__":
    main()
