"""Revision 0002: chat_erasures (which users' or chats' content was erased, ids only)."""

from cortex_runtime.migrations import table_revision
from cortex_sessions.erasure import erasure_table

revision, down_revision = "0002", "0001"
upgrade, downgrade = table_revision(erasure_table)
