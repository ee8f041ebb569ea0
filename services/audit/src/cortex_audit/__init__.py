"""cortex-audit: the event store checked by an auditor (docs/audit.md)."""
