"""usage_hourly, usage_daily and their dirty markers; existing records get rolled up

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from sqlalchemy import MetaData

from cortex_usage.tables import rollup_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = MetaData()
    tables = rollup_tables(meta)
    meta.create_all(op.get_bind())
    op.execute(
        f"INSERT INTO {tables.dirty_hours.name} (hour, marked_at)"
        " SELECT DISTINCT date_trunc('hour', occurred_at, 'UTC'), now() FROM usage_records"
    )


def downgrade() -> None:
    for table in ("usage_dirty_days", "usage_dirty_hours", "usage_daily", "usage_hourly"):
        op.drop_table(table)
