"""cortex-devstack dev | status | logs SERVICE"""

import argparse
import os
import sys
from pathlib import Path

import httpx

from cortex_contracts.services import SERVICES
from cortex_devstack.stack import run_dev


def status() -> int:
    worst = 0
    for service in SERVICES:
        name, port = service.name, service.port
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{service.ready_path}", timeout=2)
            state = "ready" if response.status_code == 200 else f"not ready ({response.text})"
            worst = max(worst, 0 if response.status_code == 200 else 1)
        except httpx.HTTPError as error:
            state, worst = f"down ({type(error).__name__})", 1
        print(f"{name:<10} :{port:<5} {state}")
    return worst


def logs(service: str, root: Path) -> int:
    log_file = root / ".data" / "logs" / f"{service}.log"
    if not log_file.exists():
        print(f"no log yet: {log_file} (is `make dev` running?)", file=sys.stderr)
        return 1
    os.execvp("tail", ["tail", "-n", "200", "-F", str(log_file)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run the whole stack with embedded NATS and PostgreSQL")
    commands.add_parser("status", help="readiness of every service")
    logs_parser = commands.add_parser("logs", help="follow one service's log")
    logs_parser.add_argument("service")
    args = parser.parse_args()
    root = Path.cwd()
    if args.command == "dev":
        sys.exit(run_dev(root))
    if args.command == "status":
        sys.exit(status())
    sys.exit(logs(args.service, root))


if __name__ == "__main__":
    main()
