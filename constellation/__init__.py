"""Constellation engine (public surface assembled once every piece exists)."""
