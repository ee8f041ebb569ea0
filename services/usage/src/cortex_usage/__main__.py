"""cortex-usage [serve] | migrate | rebuild"""

from cortex_usage.service import service


def main() -> None:
    service.main()


if __name__ == "__main__":
    main()
