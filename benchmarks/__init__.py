"""Benchmarks: `python -m benchmarks NAME [--quick]`; each prints its figures as one JSON line last."""
