"""`python -m bench [NAME ...]`: run all benchmarks (or the named ones) in turn."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:])
    folder = Path(__file__).parent
    for module in sorted(pkgutil.iter_modules([str(folder)]), key=lambda m: m.name):
        if not module.name.startswith("bench_"):
            continue
        if wanted and module.name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {module.name}", flush=True)
        importlib.import_module(f"bench.{module.name}").main()


if __name__ == "__main__":
    main()
