"""`cortex-contracts schemas DIR` | `cortex-contracts asyncapi FILE`: generated documentation."""

import argparse
from pathlib import Path

from cortex_contracts.schema import write_json_schemas


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-contracts")
    commands = parser.add_subparsers(dest="command", required=True)
    schemas = commands.add_parser("schemas", help="export JSON schemas")
    schemas.add_argument("directory", type=Path)
    asyncapi = commands.add_parser("asyncapi", help="write the AsyncAPI document")
    asyncapi.add_argument("file", type=Path)
    args = parser.parse_args()
    if args.command == "schemas":
        for path in write_json_schemas(args.directory):
            print(path)
    elif args.command == "asyncapi":
        from cortex_contracts.asyncapi import build_asyncapi

        args.file.write_text(build_asyncapi())
        print(args.file)


if __name__ == "__main__":
    main()
