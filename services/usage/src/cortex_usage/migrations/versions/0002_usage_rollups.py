"""Usage rollups (hourly, hourly totals, daily) and their marks; existing records get rolled up

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from sqlalchemy import MetaData

from cortex_usage.tables import mark_every_recorded_hour, rollup_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = MetaData()
    tables = rollup_tables(meta)
    meta.create_all(op.get_bind())
    op.execute(mark_every_recorded_hour(tables.dirty_hours.name))


def downgrade() -> None:
    meta = MetaData()
    rollup_tables(meta)
    meta.drop_all(op.get_bind())
