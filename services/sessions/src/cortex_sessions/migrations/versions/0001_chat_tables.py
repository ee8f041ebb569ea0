"""Revision 0001: chat_sessions, chat_messages, chat_session_tombstones."""

from cortex_runtime.migrations import table_revision
from cortex_sessions.tables import chat_tables

revision, down_revision = "0001", None
upgrade, downgrade = table_revision(chat_tables)
