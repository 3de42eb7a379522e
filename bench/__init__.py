"""Benchmarks: tools to measure sealer next to its peers, never tests (docs/PERFORMANCE.md)."""
