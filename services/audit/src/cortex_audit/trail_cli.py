"""The command line of `cortex-audit export` and `cortex-audit timeline`."""

import argparse
import asyncio
import os
import sys
from typing import Any

from cortex_audit.trail import UnknownUser, export, timeline
from cortex_contracts.settings import NatsSettings

TRAIL_COMMANDS = ("export", "timeline")


def add_trail_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    exporting = commands.add_parser(
        "export",
        help="events as JSON Lines (chat, usage, audit), merged by store time",
        description="Filters combine; without any, every event. Times are ISO 8601 (UTC "
        "unless a zone is given) and bound when the stream stored the event.",
    )
    exporting.add_argument("--user", help="a username or user id")
    exporting.add_argument("--chat", help="a chat (session) id")
    exporting.add_argument("--since", help="from this time on (inclusive)")
    exporting.add_argument("--until", help="up to this time (exclusive)")
    telling = commands.add_parser("timeline", help="what happened to a user, one line per event")
    telling.add_argument("--user", required=True, help="a username or user id")


def run_trail_command(args: argparse.Namespace, config: NatsSettings) -> int:
    try:
        if args.command == "export":
            filters = {name: getattr(args, name) for name in ("user", "chat", "since", "until")}
            count = asyncio.run(export(config, sys.stdout.buffer, **filters))
            print(f"cortex-audit: exported {count} events", file=sys.stderr)
        else:
            asyncio.run(timeline(config, args.user))
    except UnknownUser as error:
        print(error, file=sys.stderr)
        return 2
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
    return 0
