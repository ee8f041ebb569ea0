"""cortex-sessions [serve] | migrate | rebuild"""

from cortex_sessions.service import service


def main() -> None:
    service.main()


if __name__ == "__main__":
    main()
