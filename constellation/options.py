"""`with` options: validation and normalization of their literal forms (language.md §8).

The checker types ``fallback`` itself (it is an ordinary expression); everything else is a
literal form checked here. Normalized values follow §12: durations in milliseconds, priority
words as numbers, ``propagate`` as ``fail``, ``lazy`` as a bool, throttle as (count, ms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from constellation.errors import Diagnostic
from constellation.source import Span
from constellation.suggest import did_you_mean
from constellation.syntax import (
    Binary,
    BoolLit,
    DurationLit,
    Expr,
    IntLit,
    Name,
    Neg,
    Option,
    StringLit,
)

OPTION_NAMES: Final = (
    "backoff",
    "cache",
    "cache_backend",
    "concurrency",
    "delay",
    "fallback",
    "lazy",
    "on_error",
    "priority",
    "retry",
    "throttle",
    "timeout",
)
BACKOFFS: Final = ("fixed", "linear", "exponential")
ON_ERROR: Final = {"fail": "fail", "propagate": "fail", "skip": "skip", "log": "log", "wrap": "wrap"}
PRIORITIES: Final = {"background": 0, "low": 20, "normal": 50, "high": 80, "critical": 100}
OPTION_WORDS: Final = (*BACKOFFS, *ON_ERROR, *PRIORITIES, "true", "false")
MAX_RETRY_WITHOUT_WARNING: Final = 10

Emit = Callable[[Diagnostic], None]
Normalized = int | str | bool | tuple[int, int]


def describe(expr: Expr) -> str:
    """A short rendering of an option value for messages."""
    match expr:
        case IntLit(value=v):
            return str(v)
        case Neg(operand=IntLit(value=v)):
            return f"-{v}"
        case DurationLit(text=t):
            return t
        case Name(name=n):
            return n
        case StringLit(value=s):
            return f'"{s}"'
        case BoolLit(value=b):
            return "true" if b else "false"
        case Binary(op="/", left=left, right=right):
            return f"{describe(left)}/{describe(right)}"
        case _:
            return "this expression"


def _int(expr: Expr) -> int | None:
    match expr:
        case IntLit(value=v):
            return v
        case Neg(operand=IntLit(value=v)):
            return -v
    return None


class _Validator:
    def __init__(self, emit: Emit, known_backends: Iterable[str]) -> None:
        self.emit = emit
        self.known_backends = frozenset(known_backends)

    def invalid(self, option: Option, value: Expr, must: str) -> None:
        self.emit(
            Diagnostic.at(
                "E016",
                value.span,
                f"invalid value for '{option.name}': {describe(value)} ({must})",
            )
        )

    def integer(self, option: Option, value: Expr, low: int, high: int | None) -> int | None:
        n = _int(value)
        if n is None or n < low or (high is not None and n > high):
            bound = f"an integer from {low} to {high}" if high is not None else f"an integer ≥ {low}"
            self.invalid(option, value, f"must be {bound}")
            return None
        return n

    def duration(self, option: Option, value: Expr, positive: bool) -> int | None:
        if not isinstance(value, DurationLit):
            self.invalid(option, value, "must be a duration such as 200ms, 3s or 1min")
            return None
        if positive and value.millis <= 0:
            self.invalid(option, value, "must be a duration greater than 0")
            return None
        return value.millis

    def word(self, option: Option, value: Expr, words: Iterable[str]) -> str | None:
        choices = tuple(words)
        if isinstance(value, Name) and value.name in choices:
            return value.name
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
        hint = did_you_mean(value.name, choices) if isinstance(value, Name) else None
        self.emit(
            Diagnostic.at(
                "E016",
                value.span,
                f"invalid value for '{option.name}': {describe(value)} (must be {listed})",
                hint,
            )
        )
        return None

    def normalize(self, option: Option, value: Expr) -> Normalized | None:
        name = option.name
        if isinstance(value, DurationLit) and name not in ("timeout", "delay", "cache"):
            self.emit(
                Diagnostic.at(
                    "E016", value.span, f"invalid value for '{name}': '{name}' takes no duration"
                )
            )
            return None
        match name:
            case "retry" | "concurrency":
                return self.integer(option, value, 0 if name == "retry" else 1, None)
            case "timeout" | "cache":
                return self.duration(option, value, positive=True)
            case "delay":
                return self.duration(option, value, positive=False)
            case "backoff":
                return self.word(option, value, BACKOFFS)
            case "on_error":
                word = self.word(option, value, tuple(ON_ERROR))
                return None if word is None else ON_ERROR[word]
            case "priority":
                if isinstance(value, Name):
                    word = self.word(option, value, tuple(PRIORITIES))
                    return None if word is None else PRIORITIES[word]
                return self.integer(option, value, 0, 100)
            case "lazy":
                if isinstance(value, BoolLit):
                    return value.value
                self.invalid(option, value, "must be true or false, or the bare flag 'lazy'")
                return None
            case "cache_backend":
                if isinstance(value, StringLit) and value.value:
                    return value.value
                self.invalid(option, value, 'must be a non-empty string literal such as "memory"')
                return None
            case "throttle":
                match value:
                    case Binary(op="/", left=IntLit(value=n), right=DurationLit(millis=ms)) if (
                        n >= 1 and ms > 0
                    ):
                        return (n, ms)
                self.invalid(option, value, "must be a rate such as 10/1s: a count ≥ 1 per duration")
                return None
        raise AssertionError(f"unhandled option {name}")  # pragma: no cover


def validate(
    options: Iterable[Option],
    emit: Emit,
    known_backends: Iterable[str] = ("memory",),
    defaults: Mapping[str, object] | None = None,
) -> tuple[dict[str, Normalized], Option | None]:
    """Check every option but ``fallback``; returns the normalized values and the fallback.

    Options with errors are left out of the result (their diagnostics are emitted).
    ``defaults`` are the module's registration options: a ``retry`` given there makes
    ``delay`` in the clause meaningful, for example.
    """
    v = _Validator(emit, known_backends)
    seen: dict[str, Span] = {}
    result: dict[str, Normalized] = {}
    fallback: Option | None = None
    for option in options:
        name = option.name
        if name not in OPTION_NAMES:
            emit(
                Diagnostic.at(
                    "E016",
                    option.name_span,
                    f"unknown option '{name}'",
                    did_you_mean(name, OPTION_NAMES),
                )
            )
            continue
        if name in seen:
            emit(
                Diagnostic.at(
                    "E016",
                    option.name_span,
                    f"option '{name}' is given more than once",
                    "keep one of them",
                )
            )
            continue
        seen[name] = option.name_span
        if option.value is None:
            if name == "lazy":
                result["lazy"] = True
            else:
                emit(Diagnostic.at("E016", option.name_span, f"option '{name}' needs a value"))
            continue
        if name == "fallback":
            fallback = option
            continue
        normalized = v.normalize(option, option.value)
        if normalized is not None:
            result[name] = normalized
    _warn(result, fallback, seen, emit, v.known_backends, defaults or {})
    return result, fallback


def _warn(
    result: dict[str, Normalized],
    fallback: Option | None,
    seen: dict[str, Span],
    emit: Emit,
    known_backends: frozenset[str],
    defaults: Mapping[str, object],
) -> None:
    """W004: options without effect or with a substitute (§8.5)."""

    def warn(name: str, message: str) -> None:
        emit(Diagnostic.at("W004", seen[name], message))

    for name in ("delay", "backoff"):
        if name in result and "retry" not in seen and "retry" not in defaults:
            warn(name, f"'{name}' has no effect without 'retry'")
    if "cache_backend" in result and "cache" not in seen and "cache" not in defaults:
        warn("cache_backend", "'cache_backend' has no effect without 'cache'")
    backend = result.get("cache_backend")
    if isinstance(backend, str) and backend not in known_backends:
        warn(
            "cache_backend",
            f"cache backend '{backend}' is not configured; the built-in \"memory\" backend is used",
        )
    retry = result.get("retry")
    if isinstance(retry, int) and retry > MAX_RETRY_WITHOUT_WARNING:
        warn("retry", f"'retry: {retry}' is more than {MAX_RETRY_WITHOUT_WARNING} retries")
    on_error = result.get("on_error", defaults.get("on_error"))
    if fallback is not None and on_error in ("skip", "log"):
        # The on_error may come from the module's defaults: then point at the fallback.
        span = seen.get("on_error", fallback.name_span)
        message = f"'on_error: {on_error}' with 'fallback' only covers failures of the fallback"
        emit(Diagnostic.at("W004", span, message))
