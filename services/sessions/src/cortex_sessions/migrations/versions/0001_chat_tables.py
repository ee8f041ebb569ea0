"""chat_sessions, chat_messages, chat_session_tombstones

Revision ID: 0001
Revises:
"""

from alembic import op
from sqlalchemy import MetaData

from cortex_sessions.tables import chat_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The table definitions are shared with `rebuild`, which creates identical fresh copies.
    meta = MetaData()
    chat_tables(meta)
    meta.create_all(op.get_bind())


def downgrade() -> None:
    for table in ("chat_messages", "chat_session_tombstones", "chat_sessions"):
        op.drop_table(table)
