"""Alembic, shared by every service that owns tables: one history and version table per service.

A service's `migrations/env.py` is two lines: `run_env(metadata, version_table="...")`. A revision
that adds tables defined in the service's `tables.py` (shared with its `rebuild`, which creates
identical fresh copies) is `upgrade, downgrade = table_revision(define)`.
"""

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import MetaData, create_engine, text

logging.getLogger("alembic").setLevel(logging.WARNING)  # before alembic logs its plugin setup
from alembic import command, context, op  # noqa: E402
from alembic.config import Config  # noqa: E402

T = TypeVar("T")

MIGRATION_LOCK_ID = 7_041_958_211  # pg advisory lock: replicas starting together migrate once


def upgrade_to_head(migrations_dir: Path, database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")


def run_env(metadata: MetaData, version_table: str) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                version_table=version_table,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
    engine.dispose()


def create_tables(define: Callable[[MetaData], T]) -> T:
    """Create the tables `define` adds to a metadata; returns what `define` returns."""
    meta = MetaData()
    tables = define(meta)
    meta.create_all(op.get_bind())
    return tables


def drop_tables(define: Callable[[MetaData], object]) -> None:
    meta = MetaData()
    define(meta)
    meta.drop_all(op.get_bind())


def table_revision(
    define: Callable[[MetaData], object],
) -> tuple[Callable[[], None], Callable[[], None]]:
    """`upgrade` and `downgrade` of a revision that only adds the tables `define` adds."""

    def upgrade() -> None:
        create_tables(define)

    def downgrade() -> None:
        drop_tables(define)

    return upgrade, downgrade
