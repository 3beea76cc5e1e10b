"""The stored image of a pipeline (JSON) and its identity (canonical form, hashes).

:func:`to_json` gives plain JSON data; :func:`from_json` loads it back exactly, validating
every part and never parsing source text, so a tampered image is refused rather than
executed. :class:`~constellation.ir.Pipeline` offers both as methods.

Image (``FORMAT``)
    An object with the source text, both hashes, the inputs, the outputs, the nodes in
    dependency order and the unused assignments. Types are in the structured form of
    :func:`constellation.types.to_json`; an expression is a JSON list ``[tag, …]``, one JSON
    level per expression level (``["arith", op, floating, left, right]``, ``["call", {meta},
    fallback, arg…]``…); call options list only what differs from the language defaults.

Identity (language.md §12, engine.md §6)
    ``structural_hash`` is the SHA-256 of :func:`canonical_form`, serialized with sorted keys,
    ``(",", ":")`` separators and non-ASCII kept. The canonical form holds the inputs (name,
    type in §3.6 notation, default, doc, examples) sorted by name, **every** assignment
    (name, expression tree) sorted by name — the unused ones too: they are compiled for the
    hash only and kept in :attr:`Pipeline.unused`, so editing any declaration changes the
    hash —, the output names sorted, and for every call its qualified name, kind, version,
    parameter and result types and its effective options (decorator defaults overridden by
    the ``with`` clause, normalized; options equal to the language default are left out, so
    ``retry: 0`` is the same as no ``retry``). Hoisted calls are inlined where they are used,
    so node ids and positions never take part; lambda parameters and match subjects appear as
    ``$level``. ``syntactic_hash`` is the SHA-256 of the exact source text (UTF-8).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn, assert_never, cast

from constellation import types as ty
from constellation.ir import (
    ARITH_OPS,
    COMPARE_OPS,
    DEFAULT_OPTIONS,
    HIGHER_KINDS,
    MAX_EXPR_DEPTH,
    MERGE_SHAPES,
    ON_ERRORS,
    ROOM_FRAMES,
    And,
    AnyPattern,
    Arith,
    BranchExpr,
    CallExpr,
    CoalesceExpr,
    Compare,
    Const,
    Convert,
    Expr,
    FieldsPattern,
    GetField,
    HigherOrder,
    IfExpr,
    InputSpec,
    Interpolate,
    IsPattern,
    Local,
    MakeList,
    MakeRecord,
    MatchCase,
    MatchExpr,
    Merge,
    Neg,
    Node,
    Not,
    Options,
    Or,
    Pattern,
    Pipeline,
    ProjectFields,
    Ref,
    UnusedAssignment,
    WhenExpr,
    dependencies,
)
from constellation.options import BACKOFFS
from constellation.stack import recursion_room
from constellation.types import Type
from constellation.values import conforms

FORMAT: Final = "constellation-ir/1"


# --------------------------------------------------------------------------- the image


def to_json(pipeline: Pipeline) -> dict[str, object]:
    """The stored form: plain JSON data that :func:`from_json` loads back exactly."""
    with recursion_room(ROOM_FRAMES):
        enc = _Encoder(canonical=False, nodes={})
        return {
            "format": FORMAT,
            "source": pipeline.source,
            "syntactic_hash": pipeline.syntactic_hash,
            "structural_hash": pipeline.structural_hash,
            "inputs": [_input_json(spec) for spec in pipeline.inputs],
            "outputs": [[name, nid] for name, nid in pipeline.outputs],
            "nodes": [
                {
                    "id": n.id,
                    "kind": n.kind,
                    "name": n.name,
                    "type": ty.to_json(n.type),
                    "expr": None if n.expr is None else enc.expr(n.expr, 0, 0),
                    "deps": list(n.deps),
                    "lazy_deps": list(n.lazy_deps),
                    "line": n.line,
                    "column": n.column,
                    "label": n.label,
                }
                for n in pipeline.nodes
            ],
            "unused": [
                {"name": u.name, "type": ty.to_json(u.type), "expr": enc.expr(u.expr, 0, 0)}
                for u in pipeline.unused
            ],
        }


def from_json(data: object) -> Pipeline:
    """Load :func:`to_json` output, validating everything; ValueError says what is wrong.

    Never parses or checks source text. Besides the shape of every part it verifies that
    the nodes are in dependency order, that every ``deps``/``lazy_deps`` list is exactly
    what the node's expression needs, that binder levels are consistent, and that both
    hashes match (so a tampered image is refused rather than executed).
    """
    with recursion_room(ROOM_FRAMES):
        try:
            return _Decoder().pipeline(data)
        except _Bad as err:
            where = "".join(reversed(err.path)).lstrip(".")
            raise ValueError(
                f"malformed pipeline JSON{' at ' + where if where else ''}: {err.message}"
            ) from None
        except RecursionError:
            raise ValueError("malformed pipeline JSON: nested too deeply") from None


# --------------------------------------------------------------------------- canonical form


def canonical_form(pipeline: Pipeline) -> dict[str, object]:
    """The canonical form of language.md §12 (see the module docstring for what it holds)."""
    with recursion_room(ROOM_FRAMES):
        return _canonical(pipeline.nodes, pipeline.inputs, pipeline.outputs, pipeline.unused)


def canonical_json(form: Mapping[str, object]) -> str:
    """The canonical serialization: sorted keys, no spaces, non-ASCII kept."""
    with recursion_room(ROOM_FRAMES):  # the C encoder counts nesting against the recursion limit
        return json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def syntactic_hash(source: str) -> str:
    """SHA-256 (lower-case hex) of the exact source text, UTF-8 encoded."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def structural_hash(
    nodes: tuple[Node, ...],
    inputs: tuple[InputSpec, ...],
    outputs: tuple[tuple[str, str], ...],
    unused: tuple[UnusedAssignment, ...] = (),
) -> str:
    """SHA-256 (lower-case hex) of the canonical JSON of a pipeline with these parts."""
    form = _canonical(nodes, inputs, outputs, unused)
    return hashlib.sha256(canonical_json(form).encode("utf-8")).hexdigest()


def _canonical(
    nodes: tuple[Node, ...],
    inputs: tuple[InputSpec, ...],
    outputs: tuple[tuple[str, str], ...],
    unused: tuple[UnusedAssignment, ...],
) -> dict[str, object]:
    with recursion_room(ROOM_FRAMES):
        by_id = {n.id: n for n in nodes}
        enc = _Encoder(canonical=True, nodes=by_id)
        assignments: list[dict[str, object]] = []
        for n in nodes:
            if n.name is not None and n.expr is not None:
                assignments.append({"name": n.name, "expr": enc.expr(n.expr, 0, 0)})
        for u in unused:
            assignments.append({"name": u.name, "expr": enc.expr(u.expr, 0, 0)})
        assignments.sort(key=lambda a: cast(str, a["name"]))
        canonical_inputs: list[dict[str, object]] = []
        for spec in sorted(inputs, key=lambda s: s.name):
            item: dict[str, object] = {
                "name": spec.name,
                "type": ty.show(spec.type),
                "doc": spec.doc,
                "examples": [_canonical_value(x) for x in spec.examples],
            }
            if spec.has_default:
                item["default"] = _canonical_value(spec.default)
            canonical_inputs.append(item)
        return {
            "inputs": canonical_inputs,
            "assignments": assignments,
            "outputs": sorted(name for name, _ in outputs),
        }


def _canonical_value(value: object) -> object:
    # Records keep their field order (it shows in renderings), which sorted keys would lose.
    if isinstance(value, dict):
        return {"record": [[k, _canonical_value(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [_canonical_value(v) for v in value]
    return value


# --------------------------------------------------------------------------- encoding


def _input_json(spec: InputSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "type": ty.to_json(spec.type),
        "has_default": spec.has_default,
        "default": spec.default,
        "doc": spec.doc,
        "examples": list(spec.examples),
    }


def _options_json(options: Options) -> dict[str, object]:
    out = options.changed()
    if "throttle" in out:
        out["throttle"] = list(cast(tuple[int, int], out["throttle"]))
    return out


class _Encoder:
    """Expressions as nested JSON lists ``[tag, …]`` (one JSON level per expression level).

    ``canonical`` switches to the canonical form: types in §3.6 notation, no positions or
    parameter names, hoisted calls inlined where they are used, binder levels made absolute
    (``$k``) for inlined calls.
    """

    def __init__(self, *, canonical: bool, nodes: Mapping[str, Node]) -> None:
        self.canonical = canonical
        self.nodes = nodes
        self.shown: dict[int, tuple[Type, object]] = {}

    def type(self, t: Type) -> object:
        # Types are shared between many expressions: render each object once.
        hit = self.shown.get(id(t))
        if hit is None:
            hit = (t, ty.show(t) if self.canonical else ty.to_json(t))
            self.shown[id(t)] = hit
        return hit[1]

    def expr(self, e: Expr, depth: int, offset: int) -> object:
        """``depth``: binders enclosing ``e`` in its node; ``offset``: added to levels."""
        return _ENCODE[e.__class__](self, e, depth, offset)

    def const(self, e: Const, depth: int, offset: int) -> object:
        return ["const", e.value]

    def ref(self, e: Ref, depth: int, offset: int) -> object:
        if self.canonical:
            target = self.nodes.get(e.node)
            if target is not None and target.name is None and target.expr is not None:
                return self.expr(target.expr, 0, offset + depth)
        return ["ref", e.node]

    def local(self, e: Local, depth: int, offset: int) -> object:
        return ["local", f"${e.level + offset}" if self.canonical else e.level]

    def convert(self, e: Convert, depth: int, offset: int) -> object:
        return ["convert", self.type(e.source), self.type(e.to), self.expr(e.expr, depth, offset)]

    def arith(self, e: Arith, depth: int, offset: int) -> object:
        enc = self.expr
        return ["arith", e.op, e.floating, enc(e.left, depth, offset), enc(e.right, depth, offset)]

    def neg(self, e: Neg, depth: int, offset: int) -> object:
        return ["neg", e.floating, self.expr(e.operand, depth, offset)]

    def compare(self, e: Compare, depth: int, offset: int) -> object:
        enc = self.expr
        return ["compare", e.op, enc(e.left, depth, offset), enc(e.right, depth, offset)]

    def and_(self, e: And, depth: int, offset: int) -> object:
        return ["and", self.expr(e.left, depth, offset), self.expr(e.right, depth, offset)]

    def or_(self, e: Or, depth: int, offset: int) -> object:
        return ["or", self.expr(e.left, depth, offset), self.expr(e.right, depth, offset)]

    def not_(self, e: Not, depth: int, offset: int) -> object:
        return ["not", self.expr(e.operand, depth, offset)]

    def merge(self, e: Merge, depth: int, offset: int) -> object:
        enc = self.expr
        return ["merge", e.shape, enc(e.left, depth, offset), enc(e.right, depth, offset)]

    def get_field(self, e: GetField, depth: int, offset: int) -> object:
        return ["field", e.name, e.depth, self.expr(e.target, depth, offset)]

    def project(self, e: ProjectFields, depth: int, offset: int) -> object:
        return ["project", list(e.names), e.depth, self.expr(e.target, depth, offset)]

    def record(self, e: MakeRecord, depth: int, offset: int) -> object:
        enc = self.expr
        return ["record", list(e.names), *[enc(v, depth, offset) for v in e.values]]

    def list_(self, e: MakeList, depth: int, offset: int) -> object:
        enc = self.expr
        return ["list", *[enc(v, depth, offset) for v in e.items]]

    def interpolate(self, e: Interpolate, depth: int, offset: int) -> object:
        enc = self.expr
        return [
            "interpolate",
            list(e.strings),
            [self.type(t) for t in e.types],
            *[enc(v, depth, offset) for v in e.exprs],
        ]

    def if_(self, e: IfExpr, depth: int, offset: int) -> object:
        enc = self.expr
        return [
            "if",
            enc(e.cond, depth, offset),
            enc(e.then, depth, offset),
            enc(e.otherwise, depth, offset),
        ]

    def branch(self, e: BranchExpr, depth: int, offset: int) -> object:
        enc = self.expr
        out: list[object] = ["branch"]
        for c, v in e.arms:
            out.append(enc(c, depth, offset))
            out.append(enc(v, depth, offset))
        out.append(enc(e.otherwise, depth, offset))
        return out

    def when(self, e: WhenExpr, depth: int, offset: int) -> object:
        return ["when", self.expr(e.value, depth, offset), self.expr(e.cond, depth, offset)]

    def coalesce(self, e: CoalesceExpr, depth: int, offset: int) -> object:
        return ["coalesce", self.expr(e.left, depth, offset), self.expr(e.right, depth, offset)]

    def level(self, k: int, offset: int) -> object:
        return f"${k + offset}" if self.canonical else k

    def match(self, e: MatchExpr, depth: int, offset: int) -> object:
        enc = self.expr
        return [
            "match",
            self.level(e.level, offset),
            [self.pattern(c.pattern) for c in e.cases],
            enc(e.subject, depth, offset),
            *[enc(c.body, depth + 1, offset) for c in e.cases],
        ]

    def higher(self, e: HigherOrder, depth: int, offset: int) -> object:
        return [
            "higher",
            e.kind,
            self.level(e.level, offset),
            self.expr(e.items, depth, offset),
            self.expr(e.body, depth + 1, offset),
        ]

    def pattern(self, p: Pattern) -> object:
        match p:
            case AnyPattern():
                return "_"
            case IsPattern(type=t):
                return {"is": self.type(t)}
            case FieldsPattern(names=names):
                return {"fields": list(names)}
            case _:
                assert_never(p)

    def call(self, e: CallExpr, depth: int, offset: int) -> object:
        meta: dict[str, object] = {
            "function": e.function,
            "kind": e.kind,
            "version": e.version,
            "params": [self.type(t) for t in e.params],
            "result": self.type(e.result),
            "options": {} if e.options is DEFAULT_OPTIONS else _options_json(e.options),
        }
        if not self.canonical:
            meta["line"] = e.line
            meta["column"] = e.column
            meta["param_names"] = list(e.param_names)
        fallback = e.options.fallback
        enc = self.expr
        return [
            "call",
            meta,
            None if fallback is None else enc(fallback, depth, offset),
            *[enc(a, depth, offset) for a in e.args],
        ]


_ENCODE: Final[dict[type, Callable[[_Encoder, Any, int, int], object]]] = {
    Const: _Encoder.const,
    Ref: _Encoder.ref,
    Local: _Encoder.local,
    Convert: _Encoder.convert,
    Arith: _Encoder.arith,
    Neg: _Encoder.neg,
    Compare: _Encoder.compare,
    And: _Encoder.and_,
    Or: _Encoder.or_,
    Not: _Encoder.not_,
    Merge: _Encoder.merge,
    GetField: _Encoder.get_field,
    ProjectFields: _Encoder.project,
    MakeRecord: _Encoder.record,
    MakeList: _Encoder.list_,
    Interpolate: _Encoder.interpolate,
    IfExpr: _Encoder.if_,
    BranchExpr: _Encoder.branch,
    WhenExpr: _Encoder.when,
    CoalesceExpr: _Encoder.coalesce,
    MatchExpr: _Encoder.match,
    HigherOrder: _Encoder.higher,
    CallExpr: _Encoder.call,
}


# --------------------------------------------------------------------------- decoding


class _Bad(Exception):
    """A malformed part of a stored pipeline; ``path`` collects where, innermost first."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _fail(message: str) -> NoReturn:
    raise _Bad(message)


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*"
_NAME_RE: Final = re.compile(_IDENT)
_NODE_ID_RE: Final = re.compile(rf"{_IDENT}(?:~[1-9][0-9]*)?")
_QUALIFIED_RE: Final = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Decoder:
    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[list[object], int, int], Expr]] = {
            "const": self.const,
            "ref": self.ref,
            "local": self.local,
            "convert": self.convert,
            "arith": self.arith,
            "neg": self.neg,
            "compare": self.compare,
            "and": self.and_,
            "or": self.or_,
            "not": self.not_,
            "merge": self.merge,
            "field": self.field,
            "project": self.project,
            "record": self.record,
            "list": self.list_,
            "interpolate": self.interpolate,
            "if": self.if_,
            "branch": self.branch,
            "when": self.when,
            "coalesce": self.coalesce,
            "match": self.match,
            "higher": self.higher,
            "call": self.call,
        }

    # -- helpers

    @staticmethod
    def at(where: str, err: _Bad) -> _Bad:
        err.path.append(where)
        return err

    @staticmethod
    def obj(data: object, keys: tuple[str, ...], what: str) -> dict[str, object]:
        if not isinstance(data, dict):
            _fail(f"expected {what} (a JSON object), got {_describe(data)}")
        missing = [k for k in keys if k not in data]
        if missing:
            _fail(f"{what} lacks {', '.join(repr(k) for k in missing)}")
        extra = [k for k in data if k not in keys]
        if extra:
            _fail(f"{what} has unknown keys {', '.join(repr(k) for k in extra)}")
        return cast(dict[str, object], data)

    @staticmethod
    def string(data: object, what: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(data, str):
            _fail(f"{what} must be a string, got {_describe(data)}")
        if pattern is not None and not pattern.fullmatch(data):
            _fail(f"{what} {data!r} is not valid")
        return data

    @staticmethod
    def integer(data: object, what: str, minimum: int = 0, maximum: int | None = None) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            _fail(f"{what} must be an integer, got {_describe(data)}")
        if data < minimum or (maximum is not None and data > maximum):
            bound = f"≥ {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            _fail(f"{what} must be an integer {bound}, got {data}")
        return data

    @staticmethod
    def boolean(data: object, what: str) -> bool:
        if not isinstance(data, bool):
            _fail(f"{what} must be true or false, got {_describe(data)}")
        return data

    @staticmethod
    def type(data: object, what: str = "type") -> Type:
        try:
            t = ty.from_json(data)
        except ValueError:
            _fail(f"{what} is not a stored type: {_describe(data)}")
        except RecursionError:
            _fail(f"{what} is nested too deeply")
        return t

    def value(self, data: object, what: str, depth: int = 0) -> object:
        """A JSON value as a language value (finite numbers, string keys)."""
        if depth > MAX_EXPR_DEPTH:
            _fail(f"{what} is nested too deeply")
        if data is None or isinstance(data, str | bool | int):
            return data
        if isinstance(data, float):
            if not math.isfinite(data):
                _fail(f"{what} holds a non-finite number")
            return data
        if isinstance(data, list):
            return [self.value(x, what, depth + 1) for x in data]
        if isinstance(data, dict):
            for k in data:
                if not isinstance(k, str):
                    _fail(f"{what} has a non-string key {k!r}")
            return {k: self.value(v, what, depth + 1) for k, v in data.items()}
        _fail(f"{what} is not a JSON value: {_describe(data)}")

    @staticmethod
    def arity(data: list[object], n: int, form: str) -> None:
        if len(data) != n:
            _fail(f"{data[0]!r} takes the form {form}, got {len(data) - 1} parts")

    def sub(self, data: list[object], i: int, binders: int, nest: int) -> Expr:
        try:
            return self.expr(data[i], binders, nest)
        except _Bad as err:
            raise self.at(f"[{i}]", err) from None

    def expr(self, data: object, binders: int, nest: int) -> Expr:
        if nest > MAX_EXPR_DEPTH:
            _fail(f"expression nested deeper than {MAX_EXPR_DEPTH} levels")
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            _fail(f"expected an expression [tag, ...], got {_describe(data)}")
        handler = self.handlers.get(data[0])
        if handler is None:
            _fail(f"unknown expression {data[0]!r}")
        return handler(data, binders, nest + 1)

    # -- expressions

    def const(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 2, '["const", value]')
        v = d[1]
        if isinstance(v, float) and not math.isfinite(v):
            _fail("a constant must be a finite number")
        if v is not None and not isinstance(v, str | int | float | bool):
            _fail(f"a constant must be a number, string, boolean or null, got {_describe(v)}")
        return Const(v)

    def ref(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 2, '["ref", node]')
        return Ref(self.string(d[1], "a ref's node id", _NODE_ID_RE))

    def local(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 2, '["local", level]')
        if b == 0:
            _fail("a local outside every lambda and match")
        return Local(self.integer(d[1], "a local's level", 1, b))

    def convert(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 4, '["convert", source, to, expr]')
        return Convert(self.sub(d, 3, b, n), self.type(d[1]), self.type(d[2]))

    def arith(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 5, '["arith", op, floating, left, right]')
        if d[1] not in ARITH_OPS:
            _fail(f"unknown arithmetic operator {_describe(d[1])}")
        floating = self.boolean(d[2], "floating")
        return Arith(d[1], self.sub(d, 3, b, n), self.sub(d, 4, b, n), floating)

    def neg(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 3, '["neg", floating, operand]')
        return Neg(self.sub(d, 2, b, n), self.boolean(d[1], "floating"))

    def compare(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 4, '["compare", op, left, right]')
        if d[1] not in COMPARE_OPS:
            _fail(f"unknown comparison operator {_describe(d[1])}")
        return Compare(d[1], self.sub(d, 2, b, n), self.sub(d, 3, b, n))

    def and_(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 3, '["and", left, right]')
        return And(self.sub(d, 1, b, n), self.sub(d, 2, b, n))

    def or_(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 3, '["or", left, right]')
        return Or(self.sub(d, 1, b, n), self.sub(d, 2, b, n))

    def not_(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 2, '["not", operand]')
        return Not(self.sub(d, 1, b, n))

    def merge(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 4, '["merge", shape, left, right]')
        if d[1] not in MERGE_SHAPES:
            _fail(f"unknown merge shape {_describe(d[1])}")
        return Merge(self.sub(d, 2, b, n), self.sub(d, 3, b, n), d[1])

    def field(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 4, '["field", name, depth, target]')
        name = self.string(d[1], "a field name", _NAME_RE)
        return GetField(self.sub(d, 3, b, n), name, self.integer(d[2], "a field's depth"))

    def names(self, data: object, what: str) -> tuple[str, ...]:
        if not isinstance(data, list):
            _fail(f"{what} must be a list of names, got {_describe(data)}")
        out = tuple(self.string(x, "a field name", _NAME_RE) for x in data)
        if len(set(out)) != len(out):
            _fail(f"{what} repeats a name")
        return out

    def project(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 4, '["project", [names], depth, target]')
        names = self.names(d[1], "a projection's fields")
        if not names:
            _fail("a projection needs at least one field")
        return ProjectFields(
            self.sub(d, 3, b, n), names, self.integer(d[2], "a projection's depth")
        )

    def record(self, d: list[object], b: int, n: int) -> Expr:
        if len(d) < 2:
            _fail("'record' takes the form [\"record\", [names], value...]")
        names = self.names(d[1], "a record's fields")
        if len(d) != len(names) + 2:
            _fail(f"a record with {len(names)} fields needs {len(names)} values")
        return MakeRecord(names, tuple(self.sub(d, i, b, n) for i in range(2, len(d))))

    def list_(self, d: list[object], b: int, n: int) -> Expr:
        return MakeList(tuple(self.sub(d, i, b, n) for i in range(1, len(d))))

    def interpolate(self, d: list[object], b: int, n: int) -> Expr:
        if len(d) < 3 or not isinstance(d[1], list) or not isinstance(d[2], list):
            _fail("'interpolate' takes the form [\"interpolate\", [strings], [types], expr...]")
        strings = tuple(self.string(s, "an interpolation's text") for s in d[1])
        types = tuple(self.type(t) for t in d[2])
        exprs = tuple(self.sub(d, i, b, n) for i in range(3, len(d)))
        if len(strings) != len(exprs) + 1 or len(types) != len(exprs):
            _fail("an interpolation needs one more text than expressions and a type for each")
        return Interpolate(strings, exprs, types)

    def if_(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 4, '["if", cond, then, otherwise]')
        return IfExpr(self.sub(d, 1, b, n), self.sub(d, 2, b, n), self.sub(d, 3, b, n))

    def branch(self, d: list[object], b: int, n: int) -> Expr:
        if len(d) % 2 != 0:
            _fail("'branch' takes the form [\"branch\", cond, value, ..., otherwise]")
        arms = tuple(
            (self.sub(d, i, b, n), self.sub(d, i + 1, b, n)) for i in range(1, len(d) - 1, 2)
        )
        return BranchExpr(arms, self.sub(d, len(d) - 1, b, n))

    def when(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 3, '["when", value, cond]')
        return WhenExpr(self.sub(d, 1, b, n), self.sub(d, 2, b, n))

    def coalesce(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 3, '["coalesce", left, right]')
        return CoalesceExpr(self.sub(d, 1, b, n), self.sub(d, 2, b, n))

    def pattern(self, data: object) -> Pattern:
        if data == "_":
            return AnyPattern()
        if isinstance(data, dict) and len(data) == 1:
            if "is" in data:
                return IsPattern(self.type(data["is"], "a pattern's type"))
            if "fields" in data:
                names = self.names(data["fields"], "a pattern's fields")
                if names:
                    return FieldsPattern(names)
        _fail(f"not a pattern: {_describe(data)}")

    def match(self, d: list[object], b: int, n: int) -> Expr:
        if len(d) < 5 or not isinstance(d[2], list):
            _fail("'match' takes the form [\"match\", level, [patterns], subject, body...]")
        level = self.integer(d[1], "a match's level", 1)
        if level != b + 1:
            _fail(f"a match at binder depth {b} must have level {b + 1}, not {level}")
        patterns = [self.pattern(p) for p in d[2]]
        if len(d) != len(patterns) + 4:
            _fail(f"a match with {len(patterns)} patterns needs {len(patterns)} bodies")
        subject = self.sub(d, 3, b, n)
        cases = tuple(MatchCase(p, self.sub(d, i + 4, b + 1, n)) for i, p in enumerate(patterns))
        return MatchExpr(subject, level, cases)

    def higher(self, d: list[object], b: int, n: int) -> Expr:
        self.arity(d, 5, '["higher", kind, level, items, body]')
        if d[1] not in HIGHER_KINDS:
            _fail(f"unknown higher-order function {_describe(d[1])}")
        level = self.integer(d[2], "a lambda's level", 1)
        if level != b + 1:
            _fail(f"a lambda at binder depth {b} must have level {b + 1}, not {level}")
        return HigherOrder(d[1], self.sub(d, 3, b, n), level, self.sub(d, 4, b + 1, n))

    def options(self, data: object, fallback: Expr | None) -> Options:
        if not isinstance(data, dict):
            _fail(f"a call's options must be an object, got {_describe(data)}")
        values: dict[str, object] = {}
        for name, v in data.items():
            match name:
                case "retry":
                    values[name] = self.integer(v, "retry")
                case "timeout" | "cache":
                    values[name] = self.integer(v, name, 1)
                case "delay":
                    values[name] = self.integer(v, name)
                case "concurrency":
                    values[name] = self.integer(v, name, 1)
                case "priority":
                    values[name] = self.integer(v, name, 0, 100)
                case "backoff" | "on_error":
                    words = BACKOFFS if name == "backoff" else ON_ERRORS
                    if v not in words:
                        _fail(f"{name} must be one of {', '.join(words)}, got {_describe(v)}")
                    values[name] = v
                case "cache_backend":
                    if not isinstance(v, str) or not v:
                        _fail(f"cache_backend must be a non-empty string, got {_describe(v)}")
                    values[name] = v
                case "throttle":
                    if not isinstance(v, list) or len(v) != 2:
                        _fail(f"throttle must be [count, milliseconds], got {_describe(v)}")
                    values[name] = (
                        self.integer(v[0], "throttle count", 1),
                        self.integer(v[1], "throttle period", 1),
                    )
                case "lazy":
                    values[name] = self.boolean(v, "lazy")
                case _:
                    _fail(f"unknown option {_describe(name)}")
        options = Options.from_normalized(values, fallback)
        if _options_json(options) != data:
            _fail("options equal to their defaults must be left out")
        return options

    def call(self, d: list[object], b: int, n: int) -> Expr:
        if len(d) < 3:
            _fail("'call' takes the form [\"call\", {meta}, fallback, arg...]")
        meta = self.obj(
            d[1],
            (
                "function",
                "kind",
                "version",
                "params",
                "result",
                "options",
                "line",
                "column",
                "param_names",
            ),
            "a call",
        )
        function = self.string(meta["function"], "a call's function", _QUALIFIED_RE)
        kind = meta["kind"]
        if kind not in ("module", "library"):
            _fail(f"a call's kind must be 'module' or 'library', got {_describe(kind)}")
        version = self.string(meta["version"], "a call's version")
        params_data = meta["params"]
        if not isinstance(params_data, list):
            _fail("a call's params must be a list of types")
        params = tuple(self.type(t, "a parameter type") for t in params_data)
        result = self.type(meta["result"], "a call's result type")
        param_names_data = meta["param_names"]
        if not isinstance(param_names_data, list):
            _fail("a call's param_names must be a list")
        param_names = tuple(self.string(p, "a parameter name", _NAME_RE) for p in param_names_data)
        if param_names and len(param_names) != len(params):
            _fail("a call needs one parameter name per parameter type")
        fallback = None if d[2] is None else self.sub(d, 2, b, n)
        args = tuple(self.sub(d, i, b, n) for i in range(3, len(d)))
        if len(args) != len(params):
            _fail(f"a call with {len(params)} parameter types has {len(args)} arguments")
        return CallExpr(
            function,
            kind,
            version,
            args,
            params,
            result,
            self.options(meta["options"], fallback),
            self.integer(meta["line"], "a call's line"),
            self.integer(meta["column"], "a call's column"),
            param_names,
        )

    # -- the pipeline

    def pipeline(self, data: object) -> Pipeline:
        top = self.obj(
            data,
            (
                "format",
                "source",
                "syntactic_hash",
                "structural_hash",
                "inputs",
                "outputs",
                "nodes",
                "unused",
            ),
            "a pipeline",
        )
        if top["format"] != FORMAT:
            _fail(f"unsupported format {_describe(top['format'])} (expected {FORMAT!r})")
        source = self.string(top["source"], "source")
        syntactic = self.string(top["syntactic_hash"], "syntactic_hash", _HEX64)
        structural = self.string(top["structural_hash"], "structural_hash", _HEX64)
        if syntactic_hash(source) != syntactic:
            _fail("the syntactic hash does not match the source text")
        inputs = self.each(top, "inputs", self.input_spec)
        nodes: list[Node] = []
        known: set[str] = set()
        for i, item in enumerate(self.listing(top, "nodes")):
            try:
                node = self.node(item, known)
            except _Bad as err:
                raise self.at(f".nodes[{i}]", err) from None
            nodes.append(node)
            known.add(node.id)
        kinds = {n.id: n.kind for n in nodes}
        node_ids = set(kinds)
        for spec in inputs:
            if kinds.get(spec.name) != "input":
                _fail(f"input {spec.name!r} has no input node")
        inputs_by_name = {spec.name for spec in inputs}
        if len(inputs_by_name) != len(inputs):
            _fail("an input is declared twice")
        for node in nodes:
            if node.kind == "input" and node.id not in inputs_by_name:
                _fail(f"input node {node.id!r} has no input declaration")
        declared = set(node_ids)
        unused: list[UnusedAssignment] = []
        unused_items = self.listing(top, "unused")
        names = [
            self.obj(u, ("name", "type", "expr"), "an unused assignment")["name"]
            for u in unused_items
        ]
        for name in names:
            declared.add(self.string(name, "an unused assignment's name", _NAME_RE))
        for i, item in enumerate(unused_items):
            try:
                unused.append(self.unused(item, declared, node_ids))
            except _Bad as err:
                raise self.at(f".unused[{i}]", err) from None
        outputs: list[tuple[str, str]] = []
        for i, pair in enumerate(self.listing(top, "outputs")):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(x, str) for x in pair)
            ):
                raise self.at(f".outputs[{i}]", _Bad("an output must be [name, node id]"))
            name, nid = cast(list[str], pair)
            if nid not in node_ids:
                raise self.at(f".outputs[{i}]", _Bad(f"output {name!r} names no node"))
            outputs.append((name, nid))
        if len({name for name, _ in outputs}) != len(outputs):
            _fail("an output is declared twice")
        pipeline = Pipeline(
            tuple(nodes), inputs, tuple(outputs), structural, syntactic, source, tuple(unused)
        )
        recomputed = structural_hash(
            pipeline.nodes, pipeline.inputs, pipeline.outputs, pipeline.unused
        )
        if recomputed != structural:
            _fail("the structural hash does not match the compiled pipeline")
        return pipeline

    def listing(self, top: dict[str, object], key: str) -> list[object]:
        value = top[key]
        if not isinstance(value, list):
            raise self.at(f".{key}", _Bad(f"expected a list, got {_describe(value)}"))
        return value

    def each(
        self, top: dict[str, object], key: str, decode: Callable[[object], InputSpec]
    ) -> tuple[InputSpec, ...]:
        out: list[InputSpec] = []
        for i, item in enumerate(self.listing(top, key)):
            try:
                out.append(decode(item))
            except _Bad as err:
                raise self.at(f".{key}[{i}]", err) from None
        return tuple(out)

    def input_spec(self, data: object) -> InputSpec:
        d = self.obj(
            data, ("name", "type", "has_default", "default", "doc", "examples"), "an input"
        )
        name = self.string(d["name"], "an input's name", _NAME_RE)
        t = self.type(d["type"])
        has_default = self.boolean(d["has_default"], "has_default")
        default = self.value(d["default"], "the default")
        if has_default and not conforms(default, t):
            _fail(f"the default {_describe(default)} is not a value of {ty.show(t)}")
        if not has_default and default is not None:
            _fail("a default is given but has_default is false")
        doc = d["doc"]
        if doc is not None and not isinstance(doc, str):
            _fail(f"doc must be a string or null, got {_describe(doc)}")
        examples_data = d["examples"]
        if not isinstance(examples_data, list):
            _fail("examples must be a list")
        examples = tuple(self.value(x, "an example") for x in examples_data)
        for x in examples:
            if not conforms(x, t):
                _fail(f"the example {_describe(x)} is not a value of {ty.show(t)}")
        return InputSpec(name, t, has_default, default, doc, examples)

    def node(self, data: object, known: set[str]) -> Node:
        d = self.obj(
            data,
            ("id", "kind", "name", "type", "expr", "deps", "lazy_deps", "line", "column", "label"),
            "a node",
        )
        nid = self.string(d["id"], "a node id", _NODE_ID_RE)
        if nid in known:
            _fail(f"node id {nid!r} is used twice")
        kind = d["kind"]
        if kind not in ("input", "value", "call"):
            _fail(f"a node's kind must be input, value or call, got {_describe(kind)}")
        name = d["name"]
        if name is not None:
            name = self.string(name, "a node's name", _NAME_RE)
            if name != nid:
                _fail("a named node's id must be its name")
        elif kind != "call" or "~" not in nid:
            _fail("only hoisted calls (ids like 'total~1') have no name")
        t = self.type(d["type"], "a node's type")
        expr: Expr | None = None
        if kind == "input":
            if d["expr"] is not None:
                _fail("an input node has no expression")
        else:
            try:
                expr = self.expr(d["expr"], 0, 0)
            except _Bad as err:
                raise self.at(".expr", err) from None
            if kind == "call" and not (isinstance(expr, CallExpr) and expr.kind == "module"):
                _fail("a call node's expression must be a module call")
        deps = self.id_list(d["deps"], "deps")
        lazy = self.id_list(d["lazy_deps"], "lazy_deps")
        for dep in (*deps, *lazy):
            if dep not in known:
                _fail(f"dependency {dep!r} is not an earlier node")
        if expr is not None:
            strict, conditional = dependencies(expr)
            if set(strict) != set(deps) or set(conditional) != set(lazy):
                _fail("deps and lazy_deps do not match the node's expression")
        elif deps or lazy:
            _fail("an input node has no dependencies")
        return Node(
            nid,
            kind,
            name,
            expr,
            t,
            deps,
            lazy,
            self.integer(d["line"], "line"),
            self.integer(d["column"], "column"),
            self.string(d["label"], "label"),
        )

    def id_list(self, data: object, what: str) -> tuple[str, ...]:
        if not isinstance(data, list):
            _fail(f"{what} must be a list of node ids")
        out = tuple(self.string(x, f"an id in {what}", _NODE_ID_RE) for x in data)
        if len(set(out)) != len(out):
            _fail(f"{what} repeats a node")
        return out

    def unused(self, data: object, declared: set[str], node_ids: set[str]) -> UnusedAssignment:
        d = self.obj(data, ("name", "type", "expr"), "an unused assignment")
        name = cast(str, d["name"])
        if name in node_ids:
            _fail(f"{name!r} is both a node and an unused assignment")
        t = self.type(d["type"])
        try:
            expr = self.expr(d["expr"], 0, 0)
        except _Bad as err:
            raise self.at(".expr", err) from None
        strict, lazy = dependencies(expr)
        for ref in (*strict, *lazy):
            if ref not in declared or "~" in ref:
                _fail(f"refers to {ref!r}, which is no declaration")
        return UnusedAssignment(name, t, expr)


__all__ = [
    "FORMAT",
    "canonical_form",
    "canonical_json",
    "from_json",
    "structural_hash",
    "syntactic_hash",
    "to_json",
]
