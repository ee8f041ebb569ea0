"""Benchmarks: `make bench` runs every `bench/bench_*.py`; each records its results in
docs/benchmarks.md with the command that produced them (see `report.py`)."""
