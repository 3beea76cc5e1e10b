"""The type language: type values, normal form, subtyping, least upper bound, printing, schemas.

Types are immutable values. Records and unions compare without regard to order (language.md
§3.2) but remember it, because order is how values are shown and stored. ``ERROR`` is the
type of an expression that already has a diagnostic: it is accepted everywhere, so one
mistake gives one diagnostic (§10.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

PrimName = Literal["String", "Int", "Float", "Boolean", "Nothing", "Duration", "Rate", "<error>"]


@dataclass(frozen=True, slots=True)
class Prim:
    """A type without parameters: ``String``, ``Int``, ``Float``, ``Boolean`` and internals."""

    name: PrimName

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, slots=True)
class ListT:
    elem: Type

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, slots=True)
class MapT:
    key: Type
    value: Type

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, slots=True)
class OptionalT:
    """A ``T`` or absent. Build it with :func:`optional`, which keeps the normal form."""

    inner: Type

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, slots=True, eq=False)
class RecordT:
    """A record with exactly these fields, in display order; equality ignores the order."""

    fields: tuple[tuple[str, Type], ...]
    _index: dict[str, Type] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", dict(self.fields))

    def get(self, name: str) -> Type | None:
        return self._index.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordT) and self._index == other._index

    def __hash__(self) -> int:
        return hash(frozenset(self._index.items()))

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, slots=True, eq=False)
class UnionT:
    """Two or more members, none a union, no two equal. Build it with :func:`union`."""

    members: tuple[Type, ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnionT) and frozenset(self.members) == frozenset(other.members)

    def __hash__(self) -> int:
        return hash(frozenset(self.members))

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, slots=True)
class FuncT:
    """The type of a lambda, ``(T) => U``; it cannot be written in programs."""

    param: Type
    result: Type

    def __str__(self) -> str:
        return show(self)


TypeVarKind = Literal["any", "numeric", "ordered"]


@dataclass(frozen=True, slots=True)
class TypeVar:
    """A type parameter of a standard-library signature (``T``, ``N`` numeric, ``O`` ordered)."""

    name: str
    kind: TypeVarKind = "any"

    def __str__(self) -> str:
        return self.name


Type = Prim | ListT | MapT | OptionalT | RecordT | UnionT | FuncT | TypeVar

STRING = Prim("String")
INT = Prim("Int")
FLOAT = Prim("Float")
BOOLEAN = Prim("Boolean")
NOTHING = Prim("Nothing")
DURATION = Prim("Duration")
RATE = Prim("Rate")
ERROR = Prim("<error>")
EMPTY_RECORD = RecordT(())


def record(fields: Iterable[tuple[str, Type]] | Mapping[str, Type]) -> RecordT:
    items = fields.items() if isinstance(fields, Mapping) else fields
    return RecordT(tuple(items))


def optional(inner: Type) -> Type:
    """``Optional<inner>`` in normal form: ``Optional<Optional<T>>`` is ``Optional<T>``."""
    if isinstance(inner, OptionalT) or inner == ERROR:
        return inner
    return OptionalT(inner)


def union(members: Iterable[Type]) -> Type:
    """The union of ``members`` in normal form: flat, no repeats, first-appearance order."""
    flat: list[Type] = []
    for member in members:
        for m in member.members if isinstance(member, UnionT) else (member,):
            if m not in flat:
                flat.append(m)
    if ERROR in flat:
        return ERROR
    return flat[0] if len(flat) == 1 else UnionT(tuple(flat))


def merge(left: RecordT, right: RecordT) -> RecordT:
    """Record merge ``left ⊕ right``: shared fields take the right type in the left place."""
    fields = [(name, right.get(name) or t) for name, t in left.fields]
    fields += [(name, t) for name, t in right.fields if left.get(name) is None]
    return RecordT(tuple(fields))


def is_numeric(t: Type) -> bool:
    return t in (INT, FLOAT)


def is_ordered(t: Type) -> bool:
    return t in (INT, FLOAT, STRING)


def list_depth_elem(t: Type) -> tuple[int, Type]:
    """How many ``List`` layers wrap ``t``, and the type inside them."""
    depth = 0
    while isinstance(t, ListT):
        depth += 1
        t = t.elem
    return depth, t


def wrap_lists(t: Type, depth: int) -> Type:
    for _ in range(depth):
        t = ListT(t)
    return t


# --------------------------------------------------------------------------- subtyping


def is_subtype(s: Type, t: Type) -> bool:
    """``s <: t`` (language.md §3.3)."""
    if s in (t, ERROR, NOTHING) or t == ERROR:
        return True
    if isinstance(s, UnionT):
        return all(is_subtype(m, t) for m in s.members)
    if isinstance(t, UnionT):
        return any(is_subtype(s, m) for m in t.members)
    if isinstance(t, OptionalT):
        inner = s.inner if isinstance(s, OptionalT) else s
        return is_subtype(inner, t.inner)
    match s:
        case Prim():
            return s == INT and t == FLOAT
        case ListT():
            return isinstance(t, ListT) and is_subtype(s.elem, t.elem)
        case MapT():
            return isinstance(t, MapT) and s.key == t.key and is_subtype(s.value, t.value)
        case RecordT():
            if not isinstance(t, RecordT):
                return False
            for name, ft in t.fields:
                st = s.get(name)
                if st is None or not is_subtype(st, ft):
                    return False
            return True
        case _:
            return False


# --------------------------------------------------------------------------- least upper bound


def _record_members(t: Type) -> tuple[RecordT, ...] | None:
    if isinstance(t, RecordT):
        return (t,)
    if isinstance(t, UnionT) and all(isinstance(m, RecordT) for m in t.members):
        return tuple(m for m in t.members if isinstance(m, RecordT))
    return None


def lub(s: Type, t: Type) -> Type | None:
    """The type of a value that is an ``s`` or a ``t``; None when they are incompatible (§3.4)."""
    if s == t:
        return s
    if s == ERROR or t == ERROR:
        return ERROR
    if s == NOTHING:
        return t
    if t == NOTHING:
        return s
    if {s, t} == {INT, FLOAT}:
        return FLOAT
    if isinstance(s, OptionalT) or isinstance(t, OptionalT):
        a = s.inner if isinstance(s, OptionalT) else s
        b = t.inner if isinstance(t, OptionalT) else t
        inner = lub(a, b)
        return None if inner is None else optional(inner)
    if isinstance(s, ListT) and isinstance(t, ListT):
        elem = lub(s.elem, t.elem)
        return None if elem is None else ListT(elem)
    if isinstance(s, MapT) and isinstance(t, MapT):
        if s.key != t.key:
            return None
        value = lub(s.value, t.value)
        return None if value is None else MapT(s.key, value)
    if isinstance(s, RecordT) and isinstance(t, RecordT) and set(s.names) == set(t.names):
        fields: list[tuple[str, Type]] = []
        for name, st in s.fields:
            ft = lub(st, t.get(name) or NOTHING)
            if ft is None:
                return union((s, t))
            fields.append((name, ft))
        return RecordT(tuple(fields))
    rs, rt = _record_members(s), _record_members(t)
    if rs is not None and rt is not None:
        return union(rs + rt)
    if isinstance(s, UnionT) and is_subtype(t, s) and all(m in s.members for m in _members(t)):
        return s
    if isinstance(t, UnionT) and is_subtype(s, t) and all(m in t.members for m in _members(s)):
        return t
    return None


def _members(t: Type) -> tuple[Type, ...]:
    return t.members if isinstance(t, UnionT) else (t,)


# --------------------------------------------------------------------------- printing


def show(t: Type) -> str:
    """The notation of language.md §3.6: ``List<{ id: Int }>``, ``{ a: Int } | { b: String }``."""
    match t:
        case Prim():
            return "<error>" if t == ERROR else t.name
        case ListT():
            return f"List<{show(t.elem)}>"
        case MapT():
            return f"Map<{show(t.key)}, {show(t.value)}>"
        case OptionalT():
            return f"Optional<{show(t.inner)}>"
        case RecordT():
            if not t.fields:
                return "{}"
            return "{ " + ", ".join(f"{n}: {show(ft)}" for n, ft in t.fields) + " }"
        case UnionT():
            return " | ".join(show(m) for m in t.members)
        case FuncT():
            return f"({show(t.param)}) => {show(t.result)}"
        case TypeVar():
            return t.name


# --------------------------------------------------------------------------- JSON forms


def json_schema(t: Type) -> dict[str, object]:
    """A JSON Schema (draft 2020-12) for the JSON form of values of ``t`` (engine.md §4)."""
    match t:
        case Prim(name="String"):
            return {"type": "string"}
        case Prim(name="Int"):
            return {"type": "integer"}
        case Prim(name="Float"):
            return {"type": "number"}
        case Prim(name="Boolean"):
            return {"type": "boolean"}
        case ListT():
            return {"type": "array", "items": json_schema(t.elem)}
        case MapT() if t.key == STRING:
            return {"type": "object", "additionalProperties": json_schema(t.value)}
        case MapT():
            pair = {
                "type": "array",
                "prefixItems": [json_schema(t.key), json_schema(t.value)],
                "items": False,
                "minItems": 2,
            }
            return {"type": "array", "items": pair}
        case OptionalT():
            return {"anyOf": [json_schema(t.inner), {"type": "null"}]}
        case RecordT():
            return {
                "type": "object",
                "properties": {n: json_schema(ft) for n, ft in t.fields},
                "required": list(t.names),
                "additionalProperties": False,
            }
        case UnionT():
            return {"anyOf": [json_schema(m) for m in t.members]}
        case _:
            # Nothing, internal types: no JSON value has them.
            return {"not": {}}


def to_json(t: Type) -> object:
    """A structured JSON form of a type, for stored pipeline images (see :func:`from_json`)."""
    match t:
        case Prim():
            return t.name
        case ListT():
            return {"list": to_json(t.elem)}
        case MapT():
            return {"map": [to_json(t.key), to_json(t.value)]}
        case OptionalT():
            return {"optional": to_json(t.inner)}
        case RecordT():
            return {"record": [[n, to_json(ft)] for n, ft in t.fields]}
        case UnionT():
            return {"union": [to_json(m) for m in t.members]}
        case FuncT():
            return {"func": [to_json(t.param), to_json(t.result)]}
        case TypeVar():
            return {"var": [t.name, t.kind]}


_PRIMS: dict[str, Prim] = {
    p.name: p for p in (STRING, INT, FLOAT, BOOLEAN, NOTHING, DURATION, RATE, ERROR)
}


def from_json(data: object) -> Type:
    """The inverse of :func:`to_json`; raises ValueError on anything it did not produce."""
    if isinstance(data, str) and data in _PRIMS:
        return _PRIMS[data]
    if isinstance(data, dict) and len(data) == 1:
        ((tag, body),) = data.items()
        if tag == "list":
            return ListT(from_json(body))
        if tag == "optional":
            return optional(from_json(body))
        if tag == "map" and isinstance(body, list) and len(body) == 2:
            return MapT(from_json(body[0]), from_json(body[1]))
        if tag == "record" and isinstance(body, list):
            return RecordT(tuple((str(n), from_json(ft)) for n, ft in body))
        if tag == "union" and isinstance(body, list):
            return union(from_json(m) for m in body)
        if tag == "func" and isinstance(body, list) and len(body) == 2:
            return FuncT(from_json(body[0]), from_json(body[1]))
        if tag == "var" and isinstance(body, list) and len(body) == 2:
            kind = body[1]
            if kind in ("any", "numeric", "ordered"):
                return TypeVar(str(body[0]), kind)
    raise ValueError(f"not a stored type: {data!r}")
