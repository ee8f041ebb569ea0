"""Alembic, shared by every service that owns tables: one history and version table per service.

A service's `migrations/env.py` is two lines: `run_env(metadata, version_table="...")`.
"""

import logging
from pathlib import Path

from sqlalchemy import MetaData, create_engine, text

logging.getLogger("alembic").setLevel(logging.WARNING)  # before alembic logs its plugin setup
from alembic import command, context  # noqa: E402
from alembic.config import Config  # noqa: E402

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
