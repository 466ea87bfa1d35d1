"""Benchmarks that print figures; `python -m bench` regenerates docs/benchmarks.md."""
