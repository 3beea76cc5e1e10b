"""Constellation engine."""
