"""cortex-health: polls model servers and publishes health."""

from cortex_health.service import service


def main() -> None:
    service.main()


if __name__ == "__main__":
    main()
