from pathlib import Path

from cortex_runtime.migrations import upgrade_to_head


def migrate(database_url: str) -> None:
    upgrade_to_head(Path(__file__).parent / "migrations", database_url)
