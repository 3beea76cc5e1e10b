"""Constellation: typed pipelines for Python, notebook-first and production-ready.

A pipeline is written in constellation-lang; its modules are plain Python functions.
The engine checks the program, reports every mistake at once, compiles it to a DAG and
runs it, independent work in parallel::

    >>> import constellation as cst
    >>> reg = cst.Registry()
    >>> @reg.module
    ... def Shout(text: str) -> str:
    ...     return text.upper() + "!"
    >>> engine = cst.Engine(registry=reg)
    >>> pipeline = engine.compile('''
    ... in name: String
    ... greeting = Shout("hello, ${trim(name)}")
    ... out greeting
    ... ''')
    >>> [node.name for node in pipeline.nodes if node.name]
    ['name', 'greeting']
    >>> len(pipeline.structural_hash)
    64
    >>> result = engine.run(pipeline.source, {"name": "  Ada "})
    >>> result.status, result.outputs["greeting"]
    ('completed', 'HELLO, ADA!')

A run that lacks an input does not fail: it computes what it can and is *suspended*::

    >>> waiting = engine.run(pipeline.source)
    >>> waiting.status, dict(waiting.missing_inputs)
    ('suspended', {'name': 'String'})

Mistakes come back as diagnostics with a line, a column and a hint::

    >>> for d in engine.check("in n: Int\\nx = n + m\\nout x\\nout y"):
    ...     print(d.code, d.line, d.column, d.message, "/", d.hint)
    E001 2 9 undefined variable 'm' / did you mean 'n'?
    E001 4 5 undefined variable 'y' / did you mean 'n'?

``engine.compile`` raises :class:`CompileError`, whose ``str`` shows each diagnostic with the
source line and a caret.
"""

from __future__ import annotations

from constellation.engine import Engine
from constellation.errors import (
    CompileError,
    ConstellationError,
    Diagnostic,
    ExecutionExpired,
    InputError,
    ModuleDefinitionError,
    NotFound,
    ResumeConflict,
    StoreError,
)
from constellation.execution import Event, Execution, ModuleCall, NodeError, NodeReport
from constellation.ir import Pipeline
from constellation.limits import Limits
from constellation.modules import Module, Registry, default_registry, module
from constellation.source import Source, Span

__all__ = [
    "CompileError",
    "ConstellationError",
    "Diagnostic",
    "Engine",
    "Event",
    "Execution",
    "ExecutionExpired",
    "InputError",
    "Limits",
    "Module",
    "ModuleCall",
    "ModuleDefinitionError",
    "NodeError",
    "NodeReport",
    "NotFound",
    "Pipeline",
    "Registry",
    "ResumeConflict",
    "Source",
    "Span",
    "StoreError",
    "default_registry",
    "module",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext constellation``: the notebook magics, imported only when asked for.

    The engine never imports IPython; the extension lives in ``constellation_jupyter``.
    """
    try:
        import constellation_jupyter
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "The notebook extension needs the 'jupyter' extra: pip install 'constellation[jupyter]'"
        ) from err
    constellation_jupyter.load_ipython_extension(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext constellation``: stops the notebook's service and closes its store."""
    import constellation_jupyter

    constellation_jupyter.unload_ipython_extension(ipython)
