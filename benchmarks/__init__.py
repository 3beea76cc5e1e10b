"""Benchmarks of the Constellation engine (see docs and shared spec benchmarks.md)."""
