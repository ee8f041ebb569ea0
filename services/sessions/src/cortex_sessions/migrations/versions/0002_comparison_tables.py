"""Revision 0002: comparisons, comparison_panes, comparison_votes (side-by-side compare)."""

from cortex_runtime.migrations import table_revision
from cortex_sessions.compare_tables import comparison_tables

revision, down_revision = "0002", "0001"
upgrade, downgrade = table_revision(comparison_tables)
