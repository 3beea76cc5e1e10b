"""The Engine: one object that compiles pipelines and (in later pieces) runs them.

This piece covers the front end: ``check`` returns diagnostics, ``compile`` returns a compiled
:class:`~constellation.ir.Pipeline`, cached by source text so that compiling the same source
again costs a dictionary lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from constellation.compiler import compile_checked
from constellation.errors import Diagnostic
from constellation.frontend import analyse, as_source
from constellation.ir import Pipeline
from constellation.limits import DEFAULT_LIMITS, Limits
from constellation.modules import Registry, default_registry
from constellation.source import Source

_CACHE_SIZE = 256


class Engine:
    """Compiles constellation-lang against a registry of modules and the standard library."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        cache_backends: Sequence[str] = ("memory",),
    ) -> None:
        self.registry = registry if registry is not None else default_registry
        self.limits = limits
        self.cache_backends = tuple(cache_backends)
        self._compiled: OrderedDict[tuple[str, int], Pipeline] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, source: str | bytes | Source) -> tuple[Diagnostic, ...]:
        """Every diagnostic of ``source`` (errors and warnings), sorted by position."""
        return analyse(as_source(source), self.registry, self.limits, self.cache_backends).diagnostics

    def compile(self, source: str | bytes | Source) -> Pipeline:
        """The compiled pipeline of ``source``; raises CompileError with every diagnostic."""
        src = as_source(source)
        # The registry's revision is part of the key: re-registering a module (a notebook
        # cell run again) must not serve a pipeline compiled against the old signature.
        key = (src.text, self.registry.revision)
        with self._lock:
            hit = self._compiled.get(key)
            if hit is not None:
                self._compiled.move_to_end(key)
                return hit
        checked = analyse(src, self.registry, self.limits, self.cache_backends).raise_for_errors()
        pipeline = compile_checked(checked, self.registry)
        with self._lock:
            self._compiled[key] = pipeline
            if len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        return pipeline
