"""Python functions as modules: signatures from type hints, decorator options, registries.

``@module`` (engine.md §2) reads a function's annotations and turns them into a language
signature (:func:`type_from_hint`), normalizes the decorator's options the way the compiler
normalizes ``with`` options (language.md §8.2, §12), and registers the result. Everything that
cannot work is refused at decoration time with a :class:`ModuleDefinitionError` that names the
function and the parameter and says what to do.

Records: a TypedDict or dataclass annotation becomes a record type. Record values are dicts at
run time (language.md §6.1), so a module whose signature mentions dataclasses gets its
arguments rebuilt as dataclass instances (:meth:`Module.to_python_args`) and its dataclass
results turned back into dicts (:meth:`Module.from_python_result`); the runtime calls both.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import inspect
import math
import re
import sys
import threading
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypedDict, Unpack, overload

from constellation.errors import ModuleDefinitionError
from constellation.options import BACKOFFS, PRIORITIES
from constellation.options import OPTION_NAMES as WITH_OPTIONS
from constellation.syntax import RESERVED_WORDS
from constellation.types import (
    BOOLEAN,
    FLOAT,
    INT,
    STRING,
    ListT,
    MapT,
    RecordT,
    Type,
    optional,
    show,
    union,
)
from constellation.values import conforms

F = typing.TypeVar("F", bound=Callable[..., Any])

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*")
# language.md §1.4: never the name of a module or a namespace segment.

# A language value -> what the Python function expects, or back; None means "unchanged".
Converter = Callable[[object], object]
# Extra names for resolving string annotations (types local to the decorating scope).
_Env = Mapping[str, Any] | None

DurationLike = int | float | str | timedelta
ThrottleLike = str | tuple[int, DurationLike]
PriorityLike = int | Literal["background", "low", "normal", "high", "critical"]
BackoffLike = Literal["fixed", "linear", "exponential"]
OnErrorLike = Literal["fail", "propagate", "skip", "log", "wrap"]


def qualified(namespace: str | None, name: str) -> str:
    """``namespace.name``, or ``name`` for a global module."""
    return f"{namespace}.{name}" if namespace else name


def is_identifier(text: str) -> bool:
    """Whether ``text`` is an identifier of language.md §1.3 (reserved words included)."""
    return IDENTIFIER.fullmatch(text) is not None


# --------------------------------------------------------------------------- signatures


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: Type

    def __str__(self) -> str:
        return f"{self.name}: {show(self.type)}"


@dataclass(frozen=True, slots=True)
class Signature:
    """Parameter and result types of a module or library function."""

    params: tuple[Param, ...]
    result: Type

    def __str__(self) -> str:
        return f"({', '.join(str(p) for p in self.params)}) -> {show(self.result)}"


@dataclass(frozen=True, slots=True)
class Module:
    """A registered Python function: its language signature, how it runs, its option defaults.

    ``options`` holds the decorator's defaults, normalized like ``with`` options: durations
    (``timeout``, ``delay``, ``cache``) as int milliseconds, ``throttle`` as ``(count, ms)``,
    ``priority`` as 0 to 100, ``on_error`` ``propagate`` as ``fail``, ``lazy`` as a bool.
    """

    name: str
    namespace: str | None
    signature: Signature
    func: Callable[..., Any]
    is_async: bool = False
    blocking: bool = False
    version: str = "1"
    options: Mapping[str, object] = field(
        default_factory=lambda: types.MappingProxyType({}), hash=False
    )
    description: str = ""
    arg_converters: tuple[Converter | None, ...] = field(default=(), compare=False, repr=False)
    result_converter: Converter | None = field(default=None, compare=False, repr=False)

    @property
    def qualified_name(self) -> str:
        return qualified(self.namespace, self.name)

    def to_python_args(self, args: Sequence[object]) -> list[object]:
        """The arguments (language values, already converted to the parameter types) as the
        function expects them: records whose annotation is a dataclass become instances."""
        if not self.arg_converters:
            return list(args)
        return [
            arg if conv is None else conv(arg)
            for arg, conv in zip(args, self.arg_converters, strict=True)
        ]

    def from_python_result(self, result: object) -> object:
        """The function's return value as a language value (dataclass instances → dicts,
        tuples → lists where the type is a list). Conformance is still the caller's check."""
        return result if self.result_converter is None else self.result_converter(result)

    def __str__(self) -> str:
        return f"{self.qualified_name}{self.signature}"


# --------------------------------------------------------------------------- type hints


def type_from_hint(hint: object) -> Type:
    """The language type for a Python type hint (engine.md §2).

    ``str``/``int``/``float``/``bool``, ``list[T]`` (also ``List``, ``Sequence``),
    ``dict[str, V]`` / ``dict[int, V]`` (also ``Mapping``), ``T | None`` / ``Optional[T]``,
    ``A | B``, TypedDicts and dataclasses (records), ``NewType`` of those. Anything else
    (``Any``, ``object``, ``None`` alone, other classes) raises :class:`ModuleDefinitionError`.
    """
    return _map_hint(hint, ()).type


@dataclass(frozen=True, slots=True)
class _Mapped:
    type: Type
    to_python: Converter | None = None
    from_python: Converter | None = None


_PRIM_HINTS: dict[object, Type] = {str: STRING, int: INT, float: FLOAT, bool: BOOLEAN}
_UNION_ORIGINS: tuple[object, ...] = (typing.Union, types.UnionType)
_LIST_ORIGINS: tuple[object, ...] = (list, collections.abc.Sequence)
_MAP_ORIGINS: tuple[object, ...] = (dict, collections.abc.Mapping)
_EXAMPLES = "str, int, float, bool, list[str], dict[str, int], a TypedDict or a dataclass"


def _hint_name(hint: object) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__qualname__
    return repr(hint).replace("typing.", "")


def _map_hint(hint: object, stack: tuple[object, ...], env: _Env = None) -> _Mapped:
    if isinstance(hint, type) and hint in _PRIM_HINTS:
        return _Mapped(_PRIM_HINTS[hint])
    if hint is Any or hint is object:
        raise ModuleDefinitionError(
            f"{_hint_name(hint)} is not allowed: the engine checks types, so use a concrete "
            f"type such as {_EXAMPLES}"
        )
    if hint is None or hint is type(None):
        raise ModuleDefinitionError("None is not a type of values here; use 'T | None'")
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:  # typing.NewType
        return _map_hint(supertype, stack, env)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in _UNION_ORIGINS:
        return _map_union(args, stack, env)
    if origin in _LIST_ORIGINS or hint in _LIST_ORIGINS or hint is typing.List:  # noqa: UP006
        if len(args) != 1:
            raise ModuleDefinitionError(f"{_hint_name(hint)} needs an element type, e.g. list[str]")
        return _map_list(_map_hint(args[0], stack, env))
    if origin in _MAP_ORIGINS or hint in _MAP_ORIGINS or hint is typing.Dict:  # noqa: UP006
        if len(args) != 2:
            raise ModuleDefinitionError(
                f"{_hint_name(hint)} needs key and value types, e.g. dict[str, int]"
            )
        key = args[0]
        if key is not str and key is not int:
            raise ModuleDefinitionError(
                f"map keys must be str or int, not {_hint_name(key)} (in {_hint_name(hint)})"
            )
        return _map_map(_PRIM_HINTS[key], _map_hint(args[1], stack, env))
    if isinstance(hint, type) and typing.is_typeddict(hint):
        return _map_typeddict(hint, stack, env)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _map_dataclass(hint, stack, env)
    raise ModuleDefinitionError(f"{_hint_name(hint)} is not a supported type; use {_EXAMPLES}")


def _map_union(args: tuple[object, ...], stack: tuple[object, ...], env: _Env) -> _Mapped:
    has_none = any(a is type(None) for a in args)
    members = [_map_hint(a, stack, env) for a in args if a is not type(None)]
    t = union(m.type for m in members)
    if has_none:
        t = optional(t)
    if all(m.to_python is None and m.from_python is None for m in members):
        return _Mapped(t)

    def to_python(value: object) -> object:
        if value is None:
            return None
        for m in members:
            if conforms(value, m.type):
                return value if m.to_python is None else m.to_python(value)
        return value

    def from_python(value: object) -> object:
        for m in members:
            if m.from_python is not None:
                converted = m.from_python(value)
                if converted is not value:
                    return converted
        return value

    return _Mapped(t, to_python, from_python)


def _map_list(elem: _Mapped) -> _Mapped:
    to_elem, from_elem = elem.to_python, elem.from_python

    def to_python(value: object) -> object:
        if to_elem is None or not isinstance(value, list):
            return value
        return [to_elem(v) for v in value]

    def from_python(value: object) -> object:
        # A tuple is a perfectly good Python sequence; the language's lists are lists.
        if not isinstance(value, list | tuple):
            return value
        return [v if from_elem is None else from_elem(v) for v in value]

    return _Mapped(ListT(elem.type), None if to_elem is None else to_python, from_python)


def _map_map(key: Type, value: _Mapped) -> _Mapped:
    t = MapT(key, value.type)
    to_value, from_value = value.to_python, value.from_python
    if to_value is None and from_value is None:
        return _Mapped(t)

    def to_python(m: object) -> object:
        if to_value is None or not isinstance(m, dict):
            return m
        return {k: to_value(v) for k, v in m.items()}

    def from_python(m: object) -> object:
        if from_value is None or not isinstance(m, dict):
            return m
        return {k: from_value(v) for k, v in m.items()}

    return _Mapped(t, to_python if to_value else None, from_python if from_value else None)


def _resolve_hints(target: object, env: _Env, *, extras: bool = False) -> dict[str, Any]:
    """``typing.get_type_hints``; names local to the decorating scope are a fallback only, so
    they never shadow the names of the module that defines ``target``."""
    try:
        return typing.get_type_hints(target, include_extras=extras)
    except NameError:
        if not env:
            raise
        return typing.get_type_hints(target, localns=dict(env), include_extras=extras)


def _record_hints(cls: type, kind: str, env: _Env) -> dict[str, Any]:
    try:
        return _resolve_hints(cls, env)
    except Exception as exc:
        raise ModuleDefinitionError(
            f"cannot resolve the annotations of {kind} '{cls.__name__}' ({exc}); "
            "define the types it uses at module level, before it"
        ) from exc


def _record_fields(
    cls: type, kind: str, names: Sequence[str], stack: tuple[object, ...], env: _Env
) -> list[tuple[str, _Mapped]]:
    if cls in stack:
        raise ModuleDefinitionError(
            f"{kind} '{cls.__name__}' contains itself; record types cannot be recursive"
        )
    hints = _record_hints(cls, kind, env)
    fields: list[tuple[str, _Mapped]] = []
    for name in names:
        where = f"field '{name}' of {kind} '{cls.__name__}'"
        if not is_identifier(name):
            raise ModuleDefinitionError(
                f"{where} is not a valid field name; use letters, digits, '_' and inner '-'"
            )
        if name not in hints:
            raise ModuleDefinitionError(f"{where} has no type annotation")
        try:
            fields.append((name, _map_hint(hints[name], (*stack, cls), env)))
        except ModuleDefinitionError as exc:
            if str(exc).startswith("field '"):
                raise
            raise ModuleDefinitionError(f"{where}: {exc}") from None
    return fields


def _map_typeddict(cls: type, stack: tuple[object, ...], env: _Env) -> _Mapped:
    # __optional_keys__ misses NotRequired[...] written as a string (future annotations), so
    # look at the resolved hints with their qualifiers too.
    optional_keys = set(getattr(cls, "__optional_keys__", ()))
    with contextlib.suppress(Exception):
        extras = _resolve_hints(cls, env, extras=True)
        optional_keys.update(
            n for n, h in extras.items() if typing.get_origin(h) is typing.NotRequired
        )
    for name in cls.__annotations__:
        if name in optional_keys:
            raise ModuleDefinitionError(
                f"field '{name}' of TypedDict '{cls.__name__}' is not required; a record "
                f"has every field: make it required, with an optional type ('{name}: T | None')"
            )
    fields = _record_fields(
        cls, "TypedDict", list(_record_hints(cls, "TypedDict", env)), stack, env
    )
    t = RecordT(tuple((name, m.type) for name, m in fields))
    converters = {name: m for name, m in fields if m.to_python or m.from_python}
    if not converters:
        return _Mapped(t)

    def convert(value: object, *, to: bool) -> object:
        if not isinstance(value, dict):
            return value
        out = dict(value)
        for name, m in converters.items():
            conv = m.to_python if to else m.from_python
            if conv is not None and name in out:
                out[name] = conv(out[name])
        return out

    return _Mapped(t, lambda v: convert(v, to=True), lambda v: convert(v, to=False))


def _map_dataclass(cls: type, stack: tuple[object, ...], env: _Env) -> _Mapped:
    dc_fields = dataclasses.fields(cls)
    for f in dc_fields:
        if not f.init:
            raise ModuleDefinitionError(
                f"field '{f.name}' of dataclass '{cls.__name__}' is not an __init__ "
                "parameter, so a record value cannot be turned into the dataclass"
            )
    fields = _record_fields(cls, "dataclass", [f.name for f in dc_fields], stack, env)
    t = RecordT(tuple((name, m.type) for name, m in fields))

    def to_python(value: object) -> object:
        if not isinstance(value, dict):
            return value
        kwargs = {
            name: value[name] if m.to_python is None else m.to_python(value[name])
            for name, m in fields
            if name in value
        }
        return cls(**kwargs)

    def from_python(value: object) -> object:
        if not isinstance(value, cls):
            return value
        return {
            name: getattr(value, name)
            if m.from_python is None
            else m.from_python(getattr(value, name))
            for name, m in fields
        }

    return _Mapped(t, to_python, from_python)


# --------------------------------------------------------------------------- options

_UNIT_MS = {"ms": 1, "s": 1_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"([0-9]+)(ms|min|s|h|d)")
# One vocabulary for with-options and decorator options (options.py).
OPTION_NAMES = tuple(name for name in WITH_OPTIONS if name != "fallback")
ON_ERROR = ("fail", "skip", "log", "wrap")
_DURATION_FORMS = (
    "a number of seconds, a timedelta, or '5s', '200ms', '1min'"
)


class _OptionError(ValueError):
    pass


def duration_ms(value: object) -> int:
    """A duration in whole milliseconds.

    Accepts the language's duration literals as strings (``"5s"``, ``"200ms"``, ``"1min"``,
    ``"1h"``, ``"1d"``), a number of seconds (``int`` or ``float``, as ``time.sleep`` and
    ``asyncio`` take them) or a ``timedelta``. Raises ``ValueError`` otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration")
        return round(value * 1000)
    if isinstance(value, timedelta):
        return round(value / timedelta(milliseconds=1))
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match:
            return int(match.group(1)) * _UNIT_MS[match.group(2)]
    raise ValueError(f"{value!r} is not a duration")


def _duration(name: str, value: object, *, minimum: int) -> int:
    rule = "> 0" if minimum > 0 else "≥ 0"
    try:
        ms = duration_ms(value)
    except ValueError:
        raise _OptionError(
            f"invalid value for '{name}': {value!r} (must be a duration: {_DURATION_FORMS})"
        ) from None
    if ms < minimum:
        raise _OptionError(f"invalid value for '{name}': {value!r} (must be a duration {rule})")
    return ms


def _integer(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum  # type: ignore[operator]
    if not ok:
        bound = f"≥ {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise _OptionError(f"invalid value for '{name}': {value!r} (must be an integer {bound})")
    return value  # type: ignore[return-value]


def _word(name: str, value: object, words: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in words:
        choices = ", ".join(f"'{w}'" for w in words)
        raise _OptionError(f"invalid value for '{name}': {value!r} (must be one of {choices})")
    return value


def _throttle(value: object) -> tuple[int, int]:
    count: object
    per: object
    if isinstance(value, str) and value.count("/") == 1:
        count_text, per = value.split("/")
        count = int(count_text) if count_text.strip().isdigit() else count_text
    elif isinstance(value, tuple | list) and len(value) == 2:
        count, per = value
    else:
        raise _OptionError(
            f"invalid value for 'throttle': {value!r} (must be 'count/duration' such as "
            "'10/1s', or a (count, duration) pair)"
        )
    return (
        _integer("throttle", count, minimum=1),
        _duration("throttle", per, minimum=1),
    )


def normalize_options(raw: Mapping[str, object]) -> dict[str, object]:
    """Decorator options normalized like ``with`` options (language.md §8.2, §12).

    Options whose value is None are left out. Raises ``ValueError`` with an E016-style
    message (``invalid value for 'retry': -1 (must be an integer ≥ 0)``).
    """
    out: dict[str, object] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name == "retry":
            out[name] = _integer(name, value, minimum=0)
        elif name in ("timeout", "cache"):
            out[name] = _duration(name, value, minimum=1)
        elif name == "delay":
            out[name] = _duration(name, value, minimum=0)
        elif name == "backoff":
            out[name] = _word(name, value, BACKOFFS)
        elif name == "cache_backend":
            if not isinstance(value, str) or not value:
                raise _OptionError(
                    f"invalid value for 'cache_backend': {value!r} (must be a non-empty string)"
                )
            out[name] = value
        elif name == "throttle":
            out[name] = _throttle(value)
        elif name == "concurrency":
            out[name] = _integer(name, value, minimum=1)
        elif name == "on_error":
            word = _word(name, value, (*ON_ERROR, "propagate"))
            out[name] = "fail" if word == "propagate" else word
        elif name == "priority":
            if isinstance(value, str):
                out[name] = PRIORITIES[_word(name, value, tuple(PRIORITIES))]
            else:
                out[name] = _integer(name, value, minimum=0, maximum=100)
        elif name == "lazy":
            if not isinstance(value, bool):
                raise _OptionError(f"invalid value for 'lazy': {value!r} (must be True or False)")
            out[name] = value
        else:
            hint = (
                "; a fallback is given per call: 'with fallback: …'" if name == "fallback" else ""
            )
            raise _OptionError(f"unknown option '{name}'{hint}")
    return out


# --------------------------------------------------------------------------- building modules


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines()).strip()


def _check_name(label: str, what: str, text: object, fix: str = "") -> str:
    if not isinstance(text, str) or not is_identifier(text):
        raise ModuleDefinitionError(
            f"{label}: {what} {text!r} is not an identifier; use letters, digits and '_', "
            f"'-' only between them, not starting with a digit (e.g. 'fetch-user'){fix}"
        )
    if text in RESERVED_WORDS:
        raise ModuleDefinitionError(
            f"{label}: {what} '{text}' is a reserved word; choose another name"
        )
    return text


def build_module(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    namespace: str | None = None,
    version: str = "1",
    blocking: bool = False,
    options: Mapping[str, object] | None = None,
    localns: Mapping[str, Any] | None = None,
) -> Module:
    """The :class:`Module` for ``func``, or a :class:`ModuleDefinitionError` saying why not.

    ``localns`` resolves string annotations naming types local to the decorating scope.
    """
    if isinstance(func, type):
        raise ModuleDefinitionError(
            f"'{func.__name__}' cannot be a module: a module is a function, not a class"
        )
    if not callable(func):
        raise ModuleDefinitionError(f"{func!r} cannot be a module: a module is a function")
    func_name = getattr(func, "__name__", None)
    module_name = name if name is not None else func_name
    label = f"module '{module_name}'"
    if func_name is not None and func_name != module_name:
        label += f" (function '{func_name}')"
    fix = "; pass name='...' to choose one" if name is None else ""
    module_name = _check_name(label, "the name", module_name, fix)
    if namespace is not None:
        if not isinstance(namespace, str):
            raise ModuleDefinitionError(f"{label}: the namespace must be a string, e.g. 'billing'")
        for segment in namespace.split("."):
            _check_name(label, f"namespace segment of {namespace!r},", segment)
        if namespace.split(".")[0] == "stdlib":
            raise ModuleDefinitionError(
                f"{label}: the namespace 'stdlib' belongs to the standard library; choose another"
            )
    if not isinstance(version, str) or not version:
        raise ModuleDefinitionError(f"{label}: version must be a non-empty string, e.g. '2'")
    if not isinstance(blocking, bool):
        raise ModuleDefinitionError(f"{label}: blocking must be True or False")

    target = func if inspect.isroutine(func) else type(func).__call__
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        raise ModuleDefinitionError(
            f"{label}: a generator cannot be a module; return a list instead"
        )
    is_async = inspect.iscoroutinefunction(target)
    if is_async and blocking:
        raise ModuleDefinitionError(
            f"{label}: blocking=True is for plain functions; an async def runs on the event loop"
        )

    try:
        normalized = normalize_options(options or {})
    except _OptionError as exc:
        raise ModuleDefinitionError(f"{label}: {exc}") from None

    params, arg_converters, result = _signature(func, target, label, localns)
    converters = tuple(m.to_python for m in arg_converters)
    return Module(
        name=module_name,
        namespace=namespace,
        signature=Signature(params, result.type),
        func=func,
        is_async=is_async,
        blocking=blocking,
        version=version,
        options=types.MappingProxyType(normalized),
        description=_first_paragraph(getattr(func, "__doc__", None)),
        arg_converters=converters if any(c is not None for c in converters) else (),
        result_converter=result.from_python,
    )


def _signature(
    func: Callable[..., Any],
    target: Callable[..., Any],
    label: str,
    localns: Mapping[str, Any] | None,
) -> tuple[tuple[Param, ...], list[_Mapped], _Mapped]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ModuleDefinitionError(f"{label}: cannot read its signature ({exc})") from None
    try:
        hints = _resolve_hints(target, localns)
    except Exception as exc:
        raise ModuleDefinitionError(
            f"{label}: cannot resolve its annotations ({exc}); define the types it uses "
            "before the function"
        ) from None

    params: list[Param] = []
    mapped: list[_Mapped] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind == p.VAR_POSITIONAL else "**"
            raise ModuleDefinitionError(
                f"{label}: parameter '{star}{p.name}' is not supported; a module takes a fixed "
                "list of named parameters"
            )
        if p.kind == p.KEYWORD_ONLY:
            raise ModuleDefinitionError(
                f"{label}: parameter '{p.name}' is keyword-only; calls pass arguments by "
                "position, so remove the '*' before it"
            )
        if p.name not in hints:
            raise ModuleDefinitionError(
                f"{label}: parameter '{p.name}' has no type annotation; annotate it, "
                f"e.g. '{p.name}: str'"
            )
        try:
            m = _map_hint(hints[p.name], (), localns)
        except ModuleDefinitionError as exc:
            raise ModuleDefinitionError(f"{label}: parameter '{p.name}': {exc}") from None
        params.append(Param(p.name, m.type))
        mapped.append(m)

    if "return" not in hints:
        raise ModuleDefinitionError(
            f"{label}: the result has no type annotation; annotate it, e.g. '-> str'"
        )
    if hints["return"] is type(None):
        raise ModuleDefinitionError(
            f"{label}: it returns None, but a module must return a value; annotate the "
            "result type, e.g. '-> str'"
        )
    try:
        result = _map_hint(hints["return"], (), localns)
    except ModuleDefinitionError as exc:
        raise ModuleDefinitionError(f"{label}: the result: {exc}") from None
    return tuple(params), mapped, result


# --------------------------------------------------------------------------- registries


class ModuleOptions(TypedDict, total=False):
    """The keyword arguments of ``@module(...)`` and :meth:`Registry.register`."""

    name: str | None
    namespace: str | None
    version: str
    blocking: bool
    retry: int | None
    timeout: DurationLike | None
    delay: DurationLike | None
    backoff: BackoffLike | None
    cache: DurationLike | None
    cache_backend: str | None
    throttle: ThrottleLike | None
    concurrency: int | None
    on_error: OnErrorLike | None
    priority: PriorityLike | None
    lazy: bool | None


def _build(func: Callable[..., Any], kwargs: ModuleOptions, localns: _Env) -> Module:
    given: dict[str, Any] = dict(kwargs)
    return build_module(
        func,
        name=given.pop("name", None),
        namespace=given.pop("namespace", None),
        version=given.pop("version", "1"),
        blocking=given.pop("blocking", False),
        options=given,
        localns=localns,
    )


class Registry:
    """Modules by qualified name. Re-registering a name replaces the module.

    Writes copy the table under a lock and swap it in, so readers (an engine compiling while a
    notebook cell registers) always see a consistent snapshot without locking.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modules: Mapping[str, Module] = types.MappingProxyType({})
        self._revision = 0

    @overload
    def module(self, func: F, /) -> F: ...

    @overload
    def module(self, func: None = None, /, **kwargs: Unpack[ModuleOptions]) -> Callable[[F], F]: ...

    def module(
        self, func: F | None = None, /, **kwargs: Unpack[ModuleOptions]
    ) -> F | Callable[[F], F]:
        """Register a function as a module: ``@reg.module`` or ``@reg.module(name=..., ...)``.

        Keywords: ``name`` (default: the function's name), ``namespace`` (dotted), ``version``
        (default ``"1"``), ``blocking`` (run a plain function in a worker thread), and the
        option defaults ``retry``, ``timeout``, ``delay``, ``backoff``, ``cache``,
        ``cache_backend``, ``throttle``, ``concurrency``, ``on_error``, ``priority``, ``lazy``,
        which a ``with`` clause overrides option by option. Returns the function unchanged,
        so it stays callable from Python.
        """
        if func is not None:
            self._add(_build(func, kwargs, _caller_locals(1)))
            return func

        def decorate(f: F) -> F:
            self._add(_build(f, kwargs, _caller_locals(1)))
            return f

        return decorate

    def register(self, func: Callable[..., Any], **kwargs: Unpack[ModuleOptions]) -> Module:
        """Register ``func`` (with the decorator's keywords) and return its :class:`Module`."""
        built = _build(func, kwargs, _caller_locals(1))
        self._add(built)
        return built

    def add(self, module: Module) -> None:
        """Register an already built :class:`Module` (replacing one of the same name)."""
        self._add(module)

    def _add(self, module: Module) -> None:
        with self._lock:
            table = dict(self._modules)
            table[module.qualified_name] = module
            self._modules = types.MappingProxyType(table)
            self._revision += 1

    def remove(self, qualified_name: str) -> Module:
        """Unregister a module; raises ``KeyError`` if no module has that name."""
        with self._lock:
            table = dict(self._modules)
            try:
                removed = table.pop(qualified_name)
            except KeyError:
                raise KeyError(f"no module named '{qualified_name}' is registered") from None
            self._modules = types.MappingProxyType(table)
            self._revision += 1
            return removed

    def get(self, qualified_name: str) -> Module | None:
        return self._modules.get(qualified_name)

    def snapshot(self) -> Mapping[str, Module]:
        """The modules by qualified name, as of now; later registrations do not change it."""
        return self._modules

    @property
    def revision(self) -> int:
        """A counter that grows with every registration or removal (for caches)."""
        return self._revision

    def namespaces(self) -> frozenset[str]:
        """Every namespace holding a module, with all its ancestors (``a.b`` gives ``a``)."""
        found: set[str] = set()
        for module in self._modules.values():
            if module.namespace:
                segments = module.namespace.split(".")
                found.update(".".join(segments[: i + 1]) for i in range(len(segments)))
        return frozenset(found)

    def __iter__(self) -> Iterator[Module]:
        return iter(tuple(self._modules.values()))

    def __len__(self) -> int:
        return len(self._modules)

    def __contains__(self, qualified_name: object) -> bool:
        return qualified_name in self._modules

    def __repr__(self) -> str:
        count = len(self._modules)
        return f"<Registry: {count} module{'' if count == 1 else 's'}>"


def _caller_locals(depth: int) -> Mapping[str, Any] | None:
    """The local names of the frame ``depth`` levels above our caller (for annotations)."""
    try:
        return dict(sys._getframe(depth + 1).f_locals)
    except ValueError:  # not that many frames
        return None


default_registry = Registry()
module = default_registry.module
