"""Bench service and CLI: benchmark runs driven through the gateway."""
