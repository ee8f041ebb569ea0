"""usage_records, usage_position

Revision ID: 0001
Revises:
"""

from alembic import op
from sqlalchemy import MetaData

from cortex_usage.tables import usage_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The table definitions are shared with `rebuild`, which creates identical fresh copies.
    meta = MetaData()
    usage_tables(meta)
    meta.create_all(op.get_bind())


def downgrade() -> None:
    for table in ("usage_position", "usage_records"):
        op.drop_table(table)
