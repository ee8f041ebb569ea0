"""Rebuild the tables from the chat stream (filled in by the event-sourcing work)."""

from cortex_sessions.settings import Settings


async def rebuild(settings: Settings) -> None:
    raise SystemExit("cortex-sessions rebuild: not implemented yet")
