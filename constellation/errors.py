"""The exception tree and diagnostic records.

Every error the engine raises on purpose is a :class:`ConstellationError`::

    ConstellationError
    ├── CompileError            the source has errors; .diagnostics lists them all
    ├── InputError(ValueError)  bad inputs to run / execute / resume
    ├── NotFound(LookupError)   unknown pipeline or execution
    ├── ResumeConflict          another resume of the same execution won
    ├── ExecutionExpired        a suspended execution outlived its TTL
    ├── StoreError              the store cannot be opened, read or written
    └── ModuleDefinitionError(TypeError)
                                a Python function cannot be a module (annotations, names)

Messages name the thing and say what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from constellation.source import Source, Span

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding of the compiler: an error (``E…``) or a warning (``W…``), with its place."""

    code: str
    severity: Severity
    message: str
    line: int
    column: int
    end_line: int
    end_column: int
    hint: str | None = None

    @staticmethod
    def at(code: str, span: Span, message: str, hint: str | None = None) -> Diagnostic:
        """A diagnostic whose severity follows from its code (``W…`` are warnings)."""
        severity: Severity = "warning" if code.startswith("W") else "error"
        return Diagnostic(
            code, severity, message, span.line, span.column, span.end_line, span.end_column, hint
        )

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self, source: Source | None = None) -> str:
        """``name:line:column: error E001: message``, the caret excerpt, then the hint."""
        where = f"{source.name}:" if source is not None else ""
        head = f"{where}{self.line}:{self.column}: {self.severity} {self.code}: {self.message}"
        parts = [head]
        if source is not None and self.line >= 1:
            parts.append(source.excerpt(self.line, self.column, self.end_line, self.end_column))
        if self.hint:
            parts.append(f"  hint: {self.hint}")
        return "\n".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "endLine": self.end_line,
            "endColumn": self.end_column,
            "hint": self.hint,
        }


class ConstellationError(Exception):
    """The root of every error Constellation raises on purpose."""


class CompileError(ConstellationError):
    """The source does not compile; ``diagnostics`` holds every error and warning found."""

    def __init__(
        self,
        diagnostics: Iterable[Diagnostic],
        source: Source | None = None,
        omitted: int = 0,
    ) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        self.source = source
        self.omitted = omitted
        super().__init__(self._render())

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    def _render(self) -> str:
        errors = self.errors
        count = len(errors) + self.omitted
        noun = "error" if count == 1 else "errors"
        name = self.source.name if self.source is not None else "the source"
        head = f"{count} {noun} in {name}"
        if self.omitted:
            head += f" ({self.omitted} more not shown: the diagnostic limit was reached)"
        body = "\n\n".join(d.render(self.source) for d in self.diagnostics)
        return f"{head}\n\n{body}" if body else head


class InputError(ConstellationError, ValueError):
    """Inputs given to run, execute or resume are unknown, missing or of the wrong type."""


class NotFound(ConstellationError, LookupError):
    """No pipeline or execution answers to that reference."""


class ResumeConflict(ConstellationError):
    """Another resume of the same execution is in progress or has already won."""


class ExecutionExpired(ConstellationError):
    """The suspended execution outlived its time to live and can no longer be resumed."""


class StoreError(ConstellationError):
    """The store cannot be opened, read or written (in use, corrupt, unwritable)."""


class ModuleDefinitionError(ConstellationError, TypeError):
    """A Python function cannot be registered as a module as it stands."""


class EvaluationFailure(Exception):
    """An expression failed at run time (language.md §5.3): division by zero, a module raised…

    Internal: it never escapes the engine. The runtime turns it into a failed node whose
    message is ``str(failure)`` (for example ``"list-first: the list is empty"``).
    """
