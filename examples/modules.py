"""Example modules for the example pipelines (registered into the default registry)."""

from __future__ import annotations

import constellation as cst


@cst.module
def Uppercase(text: str) -> str:
    """The text in upper case."""
    return text.upper()
