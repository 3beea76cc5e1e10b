"""Constellation in Jupyter: ``%load_ext constellation`` (or ``constellation_jupyter``).

Loading registers ``%%constellation`` (run a pipeline hot, with a live DAG and forms for
suspended executions) and ``%constellation <subcommand>`` (publish, executions, resume, show,
modules, config, serve, stop), all sharing one notebook-wide engine (see ``session``).
"""

from __future__ import annotations

from typing import Any

from constellation_jupyter.magics import ConstellationMagics
from constellation_jupyter.publish import Published, PublishError, publish
from constellation_jupyter.result import Result, run_live
from constellation_jupyter.session import Session

__all__ = [
    "ConstellationMagics",
    "PublishError",
    "Published",
    "Result",
    "Session",
    "load_ipython_extension",
    "publish",
    "run_live",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics on ``ipython`` (loading twice keeps the first session)."""
    if any(isinstance(m, ConstellationMagics) for m in _registered(ipython)):
        return
    ipython.register_magics(ConstellationMagics(ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """Stop the in-kernel service and close the notebook's engine (its store lock)."""
    for magics in _registered(ipython):
        if isinstance(magics, ConstellationMagics):
            magics.session.close()


def _registered(ipython: Any) -> list[object]:
    return list(ipython.magics_manager.registry.values())
