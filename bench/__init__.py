"""Benchmarks: run with `make bench` (``python -m bench``). Never part of the test run."""
