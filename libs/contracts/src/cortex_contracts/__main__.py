"""`cortex-contracts schemas DIR`: the JSON schema of every event and message."""

import argparse
from pathlib import Path

from cortex_contracts.schema import write_json_schemas


def main() -> None:
    parser = argparse.ArgumentParser(prog="cortex-contracts")
    commands = parser.add_subparsers(dest="command", required=True)
    schemas = commands.add_parser("schemas", help="export JSON schemas")
    schemas.add_argument("directory", type=Path)
    args = parser.parse_args()
    for path in write_json_schemas(args.directory):
        print(path)


if __name__ == "__main__":
    main()
