"""JSON ⇄ typed values (engine.md §4): decoding checks every value against its type.

``decode`` turns a JSON value (as ``json.loads`` gives it) into the run-time value of a type,
or raises :class:`DecodeError` naming where inside the value it went wrong and what was
expected. ``encode`` is the inverse, for results. Only ``Map<Int, V>`` differs between the
two forms: JSON has no integer keys, so it travels as an array of ``[key, value]`` pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from constellation import types as ty
from constellation.types import Type, show
from constellation.values import INT_MAX, INT_MIN, conforms


class DecodeError(ValueError):
    """A JSON value does not fit its type. ``path`` locates it (``.lines[2].qty``; '' at the top)."""

    def __init__(self, path: str, expected: Type | str, value: object, detail: str = "") -> None:
        self.path = path
        self.expected = expected if isinstance(expected, str) else show(expected)
        self.value = value
        got = describe(value)
        where = f"at {path}: " if path else ""
        message = detail or f"expected {self.expected}, got {got}"
        super().__init__(f"{where}{message}")


def describe(value: object) -> str:
    """A short description of a JSON value for messages: ``String "x"``, ``Float 2.5``, ``null``."""
    match value:
        case None:
            return "null"
        case bool():
            return f"Boolean {'true' if value else 'false'}"
        case int():
            text = str(value)
            return f"Int {text if len(text) <= 24 else text[:20] + '…'}"
        case float():
            return f"Float {value!r}"
        case str():
            shown = value if len(value) <= 32 else value[:29] + "…"
            return f'String "{shown}"'
        case list():
            return f"an array of {len(value)}"
        case dict():
            return "an object"
    return type(value).__name__


def decode(value: object, t: Type, path: str = "") -> object:
    """The run-time value of ``t`` for the JSON ``value``; raises DecodeError."""
    match t:
        case ty.Prim(name="String"):
            if isinstance(value, str):
                return value
        case ty.Prim(name="Boolean"):
            if isinstance(value, bool):
                return value
        case ty.Prim(name="Int"):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                if INT_MIN <= value <= INT_MAX:
                    return value
                raise DecodeError(path, t, value, "integer out of the 64-bit range")
        case ty.Prim(name="Float"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    result = float(value)
                except OverflowError:
                    result = math.inf
                if math.isfinite(result):
                    return result
                raise DecodeError(path, t, value, "number out of the Float range")
        case ty.ListT(elem=elem):
            if isinstance(value, list):
                return [decode(x, elem, f"{path}[{i}]") for i, x in enumerate(value)]
        case ty.OptionalT(inner=inner):
            return None if value is None else decode(value, inner, path)
        case ty.RecordT():
            if isinstance(value, dict):
                return _decode_record(value, t, path)
        case ty.MapT(key=key, value=vt):
            if key == ty.STRING and isinstance(value, dict):
                return {k: decode(v, vt, f"{path}[{_key(k)}]") for k, v in value.items()}
            if key == ty.INT and isinstance(value, list):
                return _decode_int_map(value, vt, path)
        case ty.UnionT(members=members):
            for member in members:
                try:
                    return decode(value, member, path)
                except DecodeError:
                    continue
    raise DecodeError(path, t, value)


def _key(k: str) -> str:
    return '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _decode_record(value: dict[str, object], t: ty.RecordT, path: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, ft in t.fields:
        if name not in value:
            raise DecodeError(path, t, value, f"missing field '{name}' ({show(ft)})")
        out[name] = decode(value[name], ft, f"{path}.{name}")
    extra = [k for k in value if t.get(k) is None]
    if extra:
        raise DecodeError(
            path, t, value, f"unknown field '{extra[0]}' (the record {show(t)} has no such field)"
        )
    return out


def _decode_int_map(value: list[object], vt: Type, path: str) -> dict[int, object]:
    out: dict[int, object] = {}
    for i, pair in enumerate(value):
        where = f"{path}[{i}]"
        if not (isinstance(pair, list) and len(pair) == 2):
            raise DecodeError(where, "a [key, value] pair", pair)
        out[_int_key(pair[0], where)] = decode(pair[1], vt, f"{where}[1]")
    return out


def _int_key(k: object, where: str) -> int:
    key = decode(k, ty.INT, f"{where}[0]")
    assert isinstance(key, int)
    return key


def encode(value: object, t: Type) -> object:
    """The JSON form of a run-time value of ``t`` (the inverse of :func:`decode`)."""
    match t:
        case ty.ListT(elem=elem):
            assert isinstance(value, list)
            return [encode(x, elem) for x in value]
        case ty.OptionalT(inner=inner):
            return None if value is None else encode(value, inner)
        case ty.RecordT():
            assert isinstance(value, Mapping)
            return {name: encode(value[name], ft) for name, ft in t.fields if name in value}
        case ty.MapT(key=key, value=vt):
            assert isinstance(value, Mapping)
            if key == ty.INT:
                return [[k, encode(v, vt)] for k, v in value.items()]
            return {k: encode(v, vt) for k, v in value.items()}
        case ty.UnionT(members=members):
            for member in members:
                if conforms(value, member):
                    return encode(value, member)
            return value
    return value


def _check_int(value: object) -> object:
    if type(value) is int and INT_MIN <= value <= INT_MAX:
        return value
    return decode(value, ty.INT)


def _check_float(value: object) -> object:
    if type(value) is float and math.isfinite(value):
        return value
    return decode(value, ty.FLOAT)


def _check_string(value: object) -> object:
    return value if type(value) is str else decode(value, ty.STRING)


def _check_boolean(value: object) -> object:
    return value if type(value) is bool else decode(value, ty.BOOLEAN)


# One function per scalar type, shared by every call site: a pipeline of 10,000 calls then
# touches four small functions, not 10,000 closures (it matters to the CPU caches).
_SCALAR_CHECKS: dict[str, Callable[[object], object]] = {
    "Int": _check_int,
    "Float": _check_float,
    "String": _check_string,
    "Boolean": _check_boolean,
}


def validator(t: Type) -> Callable[[object], object]:
    """``decode`` specialised for ``t``: plain values of scalar types pass on a fast path.

    The runtime checks every module result with one of these, so a module returning an
    ``int`` where ``Int`` is declared costs a type test, not a full decode.
    """
    check = _SCALAR_CHECKS.get(t.name) if isinstance(t, ty.Prim) else None
    if check is not None:
        return check
    return lambda value: decode(value, t)
