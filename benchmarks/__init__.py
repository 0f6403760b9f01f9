"""Benchmarks, each run from the repo root as ``python -m benchmarks.NAME``; helpers: common.py."""
