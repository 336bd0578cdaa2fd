"""Benchmarks: ratios measured in one run on a private server (see README.md)."""
