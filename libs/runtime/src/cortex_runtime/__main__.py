"""`cortex-runtime asyncapi FILE`: the AsyncAPI document of every registered service."""

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-runtime")
    commands = parser.add_subparsers(dest="command", required=True)
    asyncapi = commands.add_parser("asyncapi", help="write the AsyncAPI document")
    asyncapi.add_argument("file", type=Path)
    args = parser.parse_args()
    from cortex_runtime.asyncapi import build_asyncapi

    args.file.write_text(build_asyncapi())
    print(args.file)


if __name__ == "__main__":
    main()
