"""Compile-time limits (language.md §11), configurable per engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """How much source the compiler accepts before it answers E040 (or truncates diagnostics)."""

    max_source_bytes: int = 1_048_576
    max_nesting_depth: int = 256
    max_declarations: int = 50_000
    max_diagnostics: int = 100


DEFAULT_LIMITS = Limits()
