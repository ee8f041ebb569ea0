"""cortex-bench: the bench service (`serve`, the default) or the CLI (`cortex-bench run ...`)."""

import sys


def main() -> None:
    if sys.argv[1:2] == ["run"]:
        from cortex_bench.cli import main as cli_main

        sys.exit(cli_main(sys.argv[2:]))
    from cortex_bench.service import service

    service.main()


if __name__ == "__main__":
    main()
