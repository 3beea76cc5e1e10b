"""What a program can call: registered modules and the standard library, by namespace.

Resolution follows language.md §7.3. This module only answers questions about names; the
checker turns the answers into diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from constellation.modules import Module, Registry
from constellation.stdlib import STDLIB, STDLIB_VERSION, LibraryFunction
from constellation.stdlib import namespaces as stdlib_namespaces
from constellation.types import Type

Rule = Literal["plain", "equality", "ordering", "concat", "higher-order"]


@dataclass(frozen=True, slots=True)
class Function:
    """A callable function as the checker sees it, whatever implements it."""

    qualified_name: str
    name: str
    namespace: str | None
    param_names: tuple[str, ...]
    param_types: tuple[Type, ...]
    result: Type
    kind: Literal["module", "library"]
    version: str
    rule: Rule = "plain"
    #: option defaults given at registration (normalized like `with` options)
    defaults: Mapping[str, object] = field(default_factory=dict)

    @staticmethod
    def of_module(module: Module) -> Function:
        sig = module.signature
        return Function(
            module.qualified_name,
            module.name,
            module.namespace,
            tuple(p.name for p in sig.params),
            tuple(p.type for p in sig.params),
            sig.result,
            "module",
            module.version,
            defaults=module.options,
        )

    @staticmethod
    def of_library(fn: LibraryFunction) -> Function:
        sig = fn.signature
        namespace = f"stdlib.{fn.group}" if fn.group else "stdlib"
        return Function(
            fn.qualified_name,
            fn.name,
            namespace,
            tuple(p.name for p in sig.params),
            tuple(p.type for p in sig.params),
            sig.result,
            "library",
            STDLIB_VERSION,
            fn.rule,
        )


_LIBRARY: dict[str, Function] = {name: Function.of_library(fn) for name, fn in STDLIB.items()}
_LIBRARY_NAMESPACES: frozenset[str] = stdlib_namespaces()


class Functions:
    """The functions and namespaces visible to one compilation."""

    def __init__(self, registry: Registry) -> None:
        self.modules: dict[str, Function] = {}
        self.globals: dict[str, Function] = {}
        by_namespace: dict[str, dict[str, Function]] = {}
        for module in registry:
            fn = Function.of_module(module)
            self.modules[fn.qualified_name] = fn
            if module.namespace is None:
                self.globals[fn.name] = fn
            else:
                by_namespace.setdefault(module.namespace, {})[fn.name] = fn
        self._by_namespace = by_namespace
        self.namespaces: frozenset[str] = _LIBRARY_NAMESPACES | registry.namespaces()

    @staticmethod
    def library(name: str) -> Function | None:
        return _LIBRARY.get(name)

    @staticmethod
    def library_names() -> Iterable[str]:
        return _LIBRARY.keys()

    def in_namespace(self, namespace: str) -> dict[str, Function]:
        """The functions directly in ``namespace`` (``stdlib`` holds every library function)."""
        found = dict(self._by_namespace.get(namespace, {}))
        if namespace == "stdlib":
            for name, fn in _LIBRARY.items():
                found.setdefault(name, fn)
        elif namespace.startswith("stdlib."):
            group = namespace[len("stdlib.") :]
            for name, fn in _LIBRARY.items():
                if fn.namespace == f"stdlib.{group}":
                    found.setdefault(name, fn)
        return found
