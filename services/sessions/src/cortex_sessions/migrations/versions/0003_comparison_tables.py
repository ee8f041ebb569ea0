"""Revision 0003: comparisons, comparison_panes, comparison_votes (side-by-side compare)."""

from cortex_runtime.migrations import table_revision
from cortex_sessions.compare_tables import comparison_tables

revision, down_revision = "0003", "0002"
upgrade, downgrade = table_revision(comparison_tables)
