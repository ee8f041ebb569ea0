"""Benchmark runs: the API in front of the bench service (docs/benchmark-runs.md)."""
