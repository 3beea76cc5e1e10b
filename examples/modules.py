"""Example modules for the example pipelines (registered into the default registry)."""

from __future__ import annotations

import constellation as cst


@cst.module
def Uppercase(text: str) -> str:
    """The text in upper case."""
    return text.upper()


@cst.module
def Describe(item: str, amount: float) -> str:
    """One line for an expense request: what it is for and how much, in euros."""
    return f"{item.strip()} ({amount:.2f} EUR)"
