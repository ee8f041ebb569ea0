"""Usage service: consumes completion metrics into a usage store and answers usage queries."""
