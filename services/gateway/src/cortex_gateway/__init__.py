"""Cortex gateway: the only HTTP entry point for people and API clients."""
