"""Benchmarks: acknowledgement latency, rollouts at scale, start-up. Run with `python -m bench`."""
