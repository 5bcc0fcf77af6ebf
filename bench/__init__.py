"""Benchmarks for the figures in ARCHITECTURE.md (`make bench`). One module per area, each with `run() -> list
of (figure, measured, goal, ok)` rows; `python -m bench [name...]` runs them and prints one table."""
