"""Jupyter integration for Constellation. Not yet implemented: see the notebook issue."""
