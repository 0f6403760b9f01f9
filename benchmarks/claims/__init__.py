"""The paper's claims as experiments, each run as ``python -m benchmarks.claims.NAME``."""
