"""Constellation: typed pipelines for Python, notebook-first and production-ready.

A pipeline is written in constellation-lang; its modules are plain Python functions.
The engine checks the program, reports every mistake at once, and compiles it to a DAG::

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
from constellation.ir import Pipeline
from constellation.limits import Limits
from constellation.modules import Module, Registry, default_registry, module
from constellation.source import Source, Span

__all__ = [
    "CompileError",
    "ConstellationError",
    "Diagnostic",
    "Engine",
    "ExecutionExpired",
    "InputError",
    "Limits",
    "Module",
    "ModuleDefinitionError",
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
