"""Performance benchmarks (not tests): `python -m benchmarks [--quick]` runs them all."""
