"""Run-time values: text rendering, conformance, structural equality, zero values, conversions.

Values are plain Python data (language.md §6.1): ``str``, ``int`` (never ``bool``), ``float``
(always finite), ``bool``, ``list``, ``dict`` for maps and records (record keys in the order
of the static type), ``None`` for an absent optional; a union value is the plain value. The
functions here are what the compiler, the runtime, the standard library and the JSON
codecs share.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Hashable
from typing import cast

from constellation.types import (
    BOOLEAN,
    ERROR,
    FLOAT,
    INT,
    NOTHING,
    STRING,
    ListT,
    MapT,
    OptionalT,
    Prim,
    RecordT,
    Type,
    TypeVar,
    UnionT,
    is_subtype,
    show,
)

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


def is_number(value: object) -> bool:
    """An ``int`` or ``float`` that is not a ``bool`` (booleans are not numbers, §4.10)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def int_in_range(value: int) -> bool:
    """Whether ``value`` fits the 64-bit ``Int`` of §3.1."""
    return INT_MIN <= value <= INT_MAX


# --------------------------------------------------------------------------- rendering


def render(value: object, t: Type) -> str:
    """The text of ``value`` (of static type ``t``) for interpolation, ``to-string`` and ``log``.

    Follows language.md §6.2: a string or an absent optional at top level is rendered raw
    (the text itself, the empty string); inside lists, records and maps strings are quoted and
    absent values are ``null``.
    """
    parts: list[str] = []
    _render(value, t, top=True, out=parts)
    return "".join(parts)


def render_float(value: float) -> str:
    """A Float as in §6.2: Python's ``repr`` (shortest round-trip digits; ``1e+16``, ``2.0``)."""
    return repr(float(value))


def quote(text: str) -> str:
    """A string as shown inside a container: double quotes, escapes, ``${`` as ``\\${``."""
    out = ['"']
    for i, ch in enumerate(text):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == "$" and text.startswith("{", i + 1):
            out.append("\\$")
        elif unicodedata.category(ch) == "Cc":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _render(value: object, t: Type, *, top: bool, out: list[str]) -> None:
    # Dispatch on the static type; anything the type does not describe (type variables, the
    # error type, a value that does not conform) falls back to the shape of the value itself.
    if isinstance(t, OptionalT):
        if value is None:
            out.append("" if top else "null")
        else:
            _render(value, t.inner, top=top, out=out)
    elif isinstance(t, UnionT):
        # Prefer the member the value is exactly (an int is an Int before it is a Float).
        member = next((m for m in t.members if _conforms(value, m, exact=True)), None)
        if member is None:
            member = next((m for m in t.members if conforms(value, m)), None)
        if member is None:
            _render_untyped(value, top=top, out=out)
        else:
            _render(value, member, top=top, out=out)
    elif t == STRING and isinstance(value, str):
        out.append(value if top else quote(value))
    elif t == INT and is_number(value) and isinstance(value, int):
        out.append(str(value))
    elif t == FLOAT and is_number(value):
        out.append(render_float(value))  # type: ignore[arg-type]
    elif t == BOOLEAN and isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(t, ListT) and isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            _render(item, t.elem, top=False, out=out)
        out.append("]")
    elif isinstance(t, RecordT) and isinstance(value, dict):
        out.append("{")
        # Field order is the static type's (§3.2); fields the type lacks come after.
        names = [n for n in t.names if n in value] + [n for n in value if t.get(n) is None]
        for i, name in enumerate(names):
            if i:
                out.append(", ")
            out.append(f"{name}: ")
            field_type = t.get(name)
            if field_type is None:
                _render_untyped(value[name], top=False, out=out)
            else:
                _render(value[name], field_type, top=False, out=out)
        out.append("}")
    elif isinstance(t, MapT) and isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(", ")
            _render(key, t.key, top=False, out=out)
            out.append(": ")
            _render(item, t.value, top=False, out=out)
        out.append("}")
    else:
        _render_untyped(value, top=top, out=out)


def _render_untyped(value: object, *, top: bool, out: list[str]) -> None:
    """Render by the shape of the value (dicts with identifier-like keys as records)."""
    if value is None:
        out.append("" if top else "null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(render_float(value))
    elif isinstance(value, str):
        out.append(value if top else quote(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            _render_untyped(item, top=False, out=out)
        out.append("]")
    elif isinstance(value, dict):
        as_record = all(isinstance(k, str) and k.isidentifier() for k in value)
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(", ")
            if as_record:
                out.append(str(key))
            else:
                _render_untyped(key, top=False, out=out)
            out.append(": ")
            _render_untyped(item, top=False, out=out)
        out.append("}")
    else:
        out.append(str(value))


# --------------------------------------------------------------------------- conformance


def conforms(value: object, t: Type) -> bool:
    """Whether ``value`` is a value of ``t`` at run time (language.md §4.10, §6.1).

    ``Int``: an ``int`` that is not a ``bool``, within 64 bits. ``Float``: any finite number
    that is not a ``bool``. A record: a dict with exactly its fields, each conforming. A
    union: some member. ``Optional``: ``None`` or the inner type. ``Nothing``: no value.
    A type variable conforms as its kind allows (``numeric``, ``ordered``, ``any``).
    """
    return _conforms(value, t, exact=False)


def _conforms(value: object, t: Type, *, exact: bool) -> bool:
    # exact: an int does not conform to Float (for choosing the union member a value *is*).
    if isinstance(t, Prim):
        if t == STRING:
            return isinstance(value, str)
        if t == INT:
            return isinstance(value, int) and not isinstance(value, bool) and int_in_range(value)
        if t == FLOAT:
            if exact:
                return isinstance(value, float) and math.isfinite(value)
            return is_number(value) and _finite(value)
        if t == BOOLEAN:
            return isinstance(value, bool)
        return t.name == "<error>"  # Nothing, Duration, Rate: no value is one
    if isinstance(t, OptionalT):
        return value is None or _conforms(value, t.inner, exact=exact)
    if isinstance(t, UnionT):
        return any(_conforms(value, m, exact=exact) for m in t.members)
    if isinstance(t, ListT):
        return isinstance(value, list) and all(_conforms(v, t.elem, exact=exact) for v in value)
    if isinstance(t, MapT):
        return isinstance(value, dict) and all(
            _conforms(k, t.key, exact=exact) and _conforms(v, t.value, exact=exact)
            for k, v in value.items()
        )
    if isinstance(t, RecordT):
        return (
            isinstance(value, dict)
            and len(value) == len(t.fields)
            and all(
                name in value and _conforms(value[name], ft, exact=exact) for name, ft in t.fields
            )
        )
    if isinstance(t, TypeVar):
        if t.kind == "numeric":
            return conforms(value, INT) or conforms(value, FLOAT)
        if t.kind == "ordered":
            return conforms(value, INT) or conforms(value, FLOAT) or isinstance(value, str)
        return True
    return False  # function types: not values


def _finite(value: object) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:  # an int too large for a double
        return False


# --------------------------------------------------------------------------- conversions


def needs_conversion(source: Type, to: Type) -> bool:
    """Whether a value of static type ``source`` flowing into a ``to`` position changes.

    It does for Int → Float, for records with fields ``to`` lacks or in another order, and
    for anything containing those (lists, map values, optionals, record fields, union
    members). Union source members that are no subtype of ``to`` are ignored (a narrowed
    match subject cannot hold them there).
    """
    if source is to or source in (NOTHING, ERROR) or to == ERROR:
        return False
    if isinstance(source, UnionT):
        return any(needs_conversion(m, to) for m in source.members if is_subtype(m, to))
    if isinstance(to, OptionalT):
        inner = source.inner if isinstance(source, OptionalT) else source
        return needs_conversion(inner, to.inner)
    if isinstance(to, UnionT):
        return not any(
            is_subtype(source, m) and not needs_conversion(source, m) for m in to.members
        )
    if isinstance(source, OptionalT):
        return needs_conversion(source.inner, to)
    match source:
        case Prim():
            return source == INT and to == FLOAT
        case ListT():
            return isinstance(to, ListT) and needs_conversion(source.elem, to.elem)
        case MapT():
            return isinstance(to, MapT) and needs_conversion(source.value, to.value)
        case RecordT():
            if not isinstance(to, RecordT):
                return False
            if source.names != to.names:
                return True
            return any(
                needs_conversion(st, tt)
                for (_, st), (_, tt) in zip(source.fields, to.fields, strict=True)
            )
    return False


Converter = Callable[[object], object]


def converter(source: Type, to: Type) -> Converter | None:
    """The function that performs ``Convert(·, source, to)``; None when nothing changes."""
    if not needs_conversion(source, to):
        return None
    if isinstance(source, UnionT):
        plans = tuple((m, converter(m, to)) for m in source.members if is_subtype(m, to))

        def by_member(value: object) -> object:
            # A union value is the plain value: find the member it is, then convert as that.
            for member, conv in plans:
                if _conforms(value, member, exact=True):
                    return value if conv is None else conv(value)
            return value

        return by_member
    if isinstance(to, OptionalT) or (isinstance(source, OptionalT) and not isinstance(to, UnionT)):
        inner_source = source.inner if isinstance(source, OptionalT) else source
        inner_to = to.inner if isinstance(to, OptionalT) else to
        inner = converter(inner_source, inner_to)
        if inner is None:
            return None
        return lambda value: None if value is None else inner(value)
    if isinstance(to, UnionT):
        candidates = [m for m in to.members if is_subtype(source, m)]
        return converter(source, candidates[0]) if candidates else None
    match source:
        case Prim():
            return _to_float
        case ListT():
            assert isinstance(to, ListT)
            elem = converter(source.elem, to.elem)
            if elem is None:
                return None
            return lambda value: [elem(x) for x in cast(list[object], value)]
        case MapT():
            assert isinstance(to, MapT)
            conv = converter(source.value, to.value)
            if conv is None:
                return None
            return lambda value: {k: conv(v) for k, v in cast(dict[object, object], value).items()}
        case RecordT():
            assert isinstance(to, RecordT)
            plan = tuple(
                (name, converter(source.get(name) or NOTHING, ft)) for name, ft in to.fields
            )

            def record(value: object) -> object:
                v = cast(dict[str, object], value)
                return {n: (v[n] if c is None else c(v[n])) for n, c in plan}

            return record
    return None


def _to_float(value: object) -> object:
    return float(cast(int, value))


# --------------------------------------------------------------------------- equality


def values_equal(a: object, b: object) -> bool:
    """Structural equality of ``==`` (§4.5): numbers by value, booleans only equal booleans.

    Lists compare element-wise; records and maps by keys and values, ignoring order;
    ``None`` (absent) equals only ``None``.
    """
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        if len(a) != len(b):
            return False
        keys_b = {equality_key(k): k for k in b}
        for key, item in a.items():
            other = keys_b.get(equality_key(key), _MISSING)
            if other is _MISSING or not values_equal(item, b[other]):
                return False
        return True
    return a == b


_MISSING = object()


def equality_key(value: object) -> Hashable:
    """A hashable key such that ``equality_key(a) == equality_key(b)`` iff ``values_equal(a, b)``.

    For de-duplication in linear time (``list-distinct``) and dict lookups by value.
    """
    if value is None:
        return ("none",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", value)  # 2 and 2.0 are equal and hash alike
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list | tuple):
        return ("list", tuple(equality_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", frozenset((equality_key(k), equality_key(v)) for k, v in value.items()))
    if isinstance(value, Hashable):
        return ("other", value)
    return ("id", id(value))


# --------------------------------------------------------------------------- zero values


def zero_value(t: Type) -> object:
    """The zero value of ``t`` (§8.3), used by ``on_error: skip`` and ``log``.

    ``Int`` 0, ``Float`` 0.0, ``String`` "", ``Boolean`` false, lists and maps empty,
    ``Optional`` absent, a record every field's zero, a union its first member's zero.
    Raises ``ValueError`` for types without values (``Nothing``, functions, type variables).
    """
    if t == INT:
        return 0
    if t == FLOAT:
        return 0.0
    if t == STRING:
        return ""
    if t == BOOLEAN:
        return False
    if isinstance(t, ListT):
        return []
    if isinstance(t, MapT):
        return {}
    if isinstance(t, OptionalT):
        return None
    if isinstance(t, RecordT):
        return {name: zero_value(ft) for name, ft in t.fields}
    if isinstance(t, UnionT):
        return zero_value(t.members[0])
    raise ValueError(f"the type {show(t)} has no zero value")
