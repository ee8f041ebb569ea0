"""accounts hardening: disabled orgs, case-insensitive usernames, key last use, failure pruning

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "orgs", sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.create_index("ux_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_index("ix_login_failures_failed_at", "login_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_failed_at", "login_failures")
    op.drop_index("ix_api_keys_user_id", "api_keys")
    op.drop_column("api_keys", "last_used_at")
    op.drop_index("ux_users_username_lower", "users")
    op.drop_column("orgs", "disabled")
