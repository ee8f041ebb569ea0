"""Rebuild the usage tables from the usage stream (filled in by the usage work)."""

from cortex_usage.settings import Settings


async def rebuild(settings: Settings) -> None:
    raise SystemExit("cortex-usage rebuild: not implemented yet")
