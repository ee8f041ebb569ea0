"""Revision 0002: usage rollups (hourly, hourly totals, daily) and their marks; existing records
get rolled up."""

from alembic import op

from cortex_runtime.migrations import create_tables, drop_tables
from cortex_usage.tables import mark_every_recorded_hour, rollup_tables

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    tables = create_tables(rollup_tables)
    op.execute(mark_every_recorded_hour(tables.dirty_hours.name))


def downgrade() -> None:
    drop_tables(rollup_tables)
