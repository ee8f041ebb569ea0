"""Revision 0001: usage_records, usage_position."""

from cortex_runtime.migrations import table_revision
from cortex_usage.tables import usage_tables

revision, down_revision = "0001", None
upgrade, downgrade = table_revision(usage_tables)
