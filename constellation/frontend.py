"""Source text to a checked program: decode, parse, check, and the diagnostic limit (§10, §11);
and to a compiled pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constellation.checked import Checked
from constellation.checker import check
from constellation.collector import collector_paused
from constellation.compiler import compile_checked
from constellation.errors import CompileError, Diagnostic
from constellation.ir import Pipeline
from constellation.limits import Limits
from constellation.modules import Registry
from constellation.parser import parse
from constellation.source import Source


@dataclass(frozen=True, slots=True)
class Analysis:
    """The outcome of analysing one source: the checked program (None after syntax errors)."""

    source: Source
    checked: Checked | None
    diagnostics: tuple[Diagnostic, ...]
    omitted: int = 0

    @property
    def ok(self) -> bool:
        return self.checked is not None and not any(d.is_error for d in self.diagnostics)

    def raise_for_errors(self) -> Checked:
        """The checked program, or CompileError with every diagnostic."""
        if not self.ok or self.checked is None:
            raise CompileError(self.diagnostics, self.source, self.omitted)
        return self.checked


def as_source(source: str | bytes | Source, name: str = "<source>") -> Source:
    return source if isinstance(source, Source) else Source.decode(source, name)


def analyse(
    source: Source,
    registry: Registry,
    limits: Limits,
    cache_backends: Sequence[str] = ("memory",),
) -> Analysis:
    """Parse and check ``source``; keep at most ``limits.max_diagnostics`` diagnostics."""
    program, diagnostics = parse(source, limits)
    checked: Checked | None = None
    if program is not None:
        checked = check(program, source, registry, limits, cache_backends)
        diagnostics = checked.diagnostics
    kept = diagnostics[: limits.max_diagnostics]
    return Analysis(source, checked, kept, len(diagnostics) - len(kept))


def compile_source(
    source: Source,
    registry: Registry,
    limits: Limits,
    cache_backends: Sequence[str] = ("memory",),
) -> Pipeline:
    """Parse, check and compile ``source`` (CompileError with every diagnostic), with the
    cyclic garbage collector paused meanwhile (see :mod:`constellation.collector`)."""
    with collector_paused():
        checked = analyse(source, registry, limits, cache_backends).raise_for_errors()
        return compile_checked(checked, registry)
