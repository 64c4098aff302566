"""Helpers for cdrstore's own tests and benchmarks (not shipped)."""
