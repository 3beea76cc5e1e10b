"""The stored image: JSON round trips, refusal of damaged input, canonical form, hashes."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from typing import Any

import pytest

from constellation import image, ir
from constellation import types as ty
from constellation.ir import (
    Arith,
    CallExpr,
    Const,
    Convert,
    Expr,
    GetField,
    HigherOrder,
    IfExpr,
    InputSpec,
    Local,
    MakeList,
    Node,
    Not,
    Options,
    Pipeline,
    Ref,
    UnusedAssignment,
)
from constellation.stack import recursion_room
from tests.test_ir import BOOLEAN, FLOAT, INT, PROFILE, STRING, fetch, sample


def roundtrip(p: Pipeline) -> Pipeline:
    return Pipeline.from_json(json.loads(json.dumps(p.to_json())))


# --------------------------------------------------------------------------- JSON


def test_every_node_and_expression_kind_round_trips_exactly() -> None:
    """Loading the JSON of a pipeline gives an equal pipeline whose JSON is identical."""
    p = sample()
    back = roundtrip(p)
    assert back == p
    assert back.to_json() == p.to_json()
    assert back.structural_hash == p.structural_hash
    assert back.syntactic_hash == hashlib.sha256(p.source.encode()).hexdigest()


def test_record_field_order_survives_the_round_trip() -> None:
    """Record types compare without order, so the JSON itself must keep the order."""
    t = ty.record([("b", INT), ("a", STRING)])
    p = Pipeline.build((Node("r", "input", "r", None, t),), (InputSpec("r", t),), (("r", "r"),), "")
    back = roundtrip(p)
    node_type = back.nodes[0].type
    assert isinstance(node_type, ty.RecordT)
    assert node_type.names == ("b", "a")


def test_constants_keep_int_float_and_bool_apart() -> None:
    """Const(1), Const(1.0) and Const(True) are different values, also after JSON."""
    assert Const(1) != Const(1.0)
    assert Const(1) != Const(True)
    assert Const(0.0) != Const(-0.0)
    assert Const(2.5) == Const(2.5)
    exprs = [Const(1), Const(1.0), Const(True), Const(-0.0), Const(150.0)]
    nodes = tuple(
        Node(f"v{i}", "value", f"v{i}", e, INT, label=f"v{i}") for i, e in enumerate(exprs)
    )
    p = Pipeline.build(nodes, (), (("v0", "v0"),), "")
    back = roundtrip(p)
    assert [n.expr for n in back.nodes] == exprs
    for n in back.nodes:
        assert isinstance(n.expr, Const)
    assert [type(n.expr.value) for n in back.nodes if isinstance(n.expr, Const)] == [
        int,
        float,
        bool,
        float,
        float,
    ]


# --------------------------------------------------------------------------- malformed JSON


def tampered(change: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(sample().to_json()))
    change(data)
    return data


def node_json(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in data["nodes"] if n["id"] == node_id)
    return found


def set_in(path: tuple[Any, ...], value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            set_in(("format",), "constellation-ir/0"),
            "malformed pipeline JSON: unsupported format 'constellation-ir/0' "
            "(expected 'constellation-ir/1')",
        ),
        (
            lambda d: d.pop("nodes"),
            "malformed pipeline JSON: a pipeline lacks 'nodes'",
        ),
        (
            set_in(("extra",), 1),
            "malformed pipeline JSON: a pipeline has unknown keys 'extra'",
        ),
        (
            set_in(("source",), "in n: Float\n"),
            "malformed pipeline JSON: the syntactic hash does not match the source text",
        ),
        (
            set_in(("nodes", 6, "expr", 3), ["constant", 1]),
            "malformed pipeline JSON at nodes[6].expr[3]: unknown expression 'constant'",
        ),
        (
            set_in(("nodes", 6, "expr", 1), "**"),
            "malformed pipeline JSON at nodes[6].expr: unknown arithmetic operator '**'",
        ),
        (
            set_in(("nodes", 6, "expr", 4, 2), ["neg", True]),
            "malformed pipeline JSON at nodes[6].expr[4][2]: 'neg' takes the form "
            '["neg", floating, operand], got 1 parts',
        ),
        (
            set_in(("nodes", 7, "expr", 5, 4), ["local", 2]),
            "malformed pipeline JSON at nodes[7].expr[5][4]: a local's level must be an "
            "integer from 1 to 1, got 2",
        ),
        (
            set_in(("nodes", 7, "expr", 5, 1), 2),
            "malformed pipeline JSON at nodes[7].expr[5]: a match at binder depth 0 must have "
            "level 1, not 2",
        ),
        (
            set_in(("nodes", 7, "expr", 2, 3), ["local", 1]),
            "malformed pipeline JSON at nodes[7].expr[2][3]: a local outside every lambda and "
            "match",
        ),
        (
            set_in(("nodes", 6, "lazy_deps"), []),
            "malformed pipeline JSON at nodes[6]: deps and lazy_deps do not match the node's "
            "expression",
        ),
        (
            set_in(("nodes", 6, "deps"), ["n", "rest"]),
            "malformed pipeline JSON at nodes[6]: dependency 'rest' is not an earlier node",
        ),
        (
            set_in(("nodes", 1, "id"), "n"),
            "malformed pipeline JSON at nodes[1]: node id 'n' is used twice",
        ),
        (
            set_in(("nodes", 0, "type"), "Integer"),
            "malformed pipeline JSON at nodes[0]: a node's type is not a stored type: 'Integer'",
        ),
        (
            set_in(("nodes", 0, "line"), True),
            "malformed pipeline JSON at nodes[0]: line must be an integer, got True",
        ),
        (
            set_in(("nodes", 4, "expr", 1, "options", "retry"), -1),
            "malformed pipeline JSON at nodes[4].expr: retry must be an integer ≥ 0, got -1",
        ),
        (
            set_in(("nodes", 4, "expr", 1, "options", "bogus"), 1),
            "malformed pipeline JSON at nodes[4].expr: unknown option 'bogus'",
        ),
        (
            set_in(("nodes", 5, "expr", 1, "options", "retry"), 0),
            "malformed pipeline JSON at nodes[5].expr: options equal to their defaults must be "
            "left out",
        ),
        (
            set_in(("nodes", 5, "expr", 1, "kind"), "library"),
            "malformed pipeline JSON at nodes[5]: a call node's expression must be a module call",
        ),
        (
            set_in(("nodes", 6, "expr", 3, 3), ["const", float("inf")]),
            "malformed pipeline JSON at nodes[6].expr[3][3]: a constant must be a finite number",
        ),
        (
            set_in(("inputs", 1, "default"), ["x"]),
            "malformed pipeline JSON at inputs[1]: the default ['x'] is not a value of List<Int>",
        ),
        (
            set_in(("outputs", 0), ["total", "nowhere"]),
            "malformed pipeline JSON at outputs[0]: output 'total' names no node",
        ),
        (
            set_in(("unused", 0, "expr", 3, 3), ["ref", "ghost"]),
            "malformed pipeline JSON at unused[0]: refers to 'ghost', which is no declaration",
        ),
        (
            set_in(("nodes", 6, "expr", 3, 3), ["const", 9]),
            "malformed pipeline JSON: the structural hash does not match the compiled pipeline",
        ),
        (
            set_in(("structural_hash",), "0" * 64),
            "malformed pipeline JSON: the structural hash does not match the compiled pipeline",
        ),
    ],
)
def test_malformed_json_is_refused_with_a_clear_message(change: Any, message: str) -> None:
    """Every kind of damage is a ValueError naming the place and the problem."""
    with pytest.raises(ValueError, match="malformed pipeline JSON") as info:
        Pipeline.from_json(tampered(change))
    assert str(info.value) == message


@pytest.mark.parametrize("data", [None, [], "pipeline", 3, {"format": "constellation-ir/1"}])
def test_non_pipelines_are_refused(data: object) -> None:
    """Anything that is not a pipeline object at all is a ValueError, not a crash."""
    with pytest.raises(ValueError, match="malformed pipeline JSON"):
        Pipeline.from_json(data)


def test_every_single_node_deletion_is_detected() -> None:
    """Removing any one node breaks references, and loading says so."""
    base = json.loads(json.dumps(sample().to_json()))
    for i in range(len(base["nodes"])):
        data = copy.deepcopy(base)
        del data["nodes"][i]
        with pytest.raises(ValueError, match="malformed pipeline JSON"):
            Pipeline.from_json(data)


def deep_not(depth: int) -> Expr:
    e: Expr = Const(True)
    for _ in range(depth):
        e = Not(e)
    return e


def test_deep_expressions_do_not_overflow_the_stack() -> None:
    """Expressions far deeper than programs allow still encode, hash and load."""
    p = Pipeline.build((Node("v", "value", "v", deep_not(3000), BOOLEAN),), (), (("v", "v"),), "")
    limit = sys.getrecursionlimit()
    with recursion_room(ir.ROOM_FRAMES):  # json.dumps and == recurse per level too
        data = json.loads(json.dumps(p.to_json()))
        back = Pipeline.from_json(data)
        assert back == p
    assert image.canonical_form(p)["assignments"]
    assert sys.getrecursionlimit() == limit


def test_too_deep_json_is_refused() -> None:
    """Nesting beyond MAX_EXPR_DEPTH is refused with a message, not a RecursionError."""
    expr: object = ["const", True]
    for _ in range(ir.MAX_EXPR_DEPTH + 10):
        expr = ["not", expr]
    data = json.loads(json.dumps(sample().to_json()))
    data["nodes"].append(
        {
            "id": "deep",
            "kind": "value",
            "name": "deep",
            "type": "Boolean",
            "expr": expr,
            "deps": [],
            "lazy_deps": [],
            "line": 0,
            "column": 0,
            "label": "deep",
        }
    )
    with pytest.raises(ValueError, match="nested deeper than 4096 levels"):
        Pipeline.from_json(data)


def test_loading_does_not_call_the_front_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored image loads without calling the parser, the checker or the compiler."""
    from constellation import checker, compiler, frontend, parser

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the front end was called while loading a stored image")

    for module, name in [
        (parser, "parse"),
        (checker, "check"),
        (compiler, "compile_checked"),
        (frontend, "parse"),
        (frontend, "check"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    data = json.loads(json.dumps(sample().to_json()))
    assert Pipeline.from_json(data).structural_hash == sample().structural_hash


# --------------------------------------------------------------------------- canonical form


def test_structural_hash_is_the_sha256_of_the_canonical_json() -> None:
    """The hash is SHA-256 of sorted-key, compact, non-ASCII-preserving JSON."""
    p = sample()
    text = json.dumps(
        image.canonical_form(p), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert p.structural_hash == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_golden_canonical_form() -> None:
    """The canonical form of a small pipeline, whole: changing it changes every stored hash."""
    nodes = (
        Node("x", "input", "x", None, INT),
        Node("t~1", "call", None, fetch(Const("é")), PROFILE, line=3, column=9),
        Node(
            "t",
            "value",
            "t",
            Arith("*", Convert(Ref("x"), INT, FLOAT), Const(150.0), floating=True),
            FLOAT,
            ("x",),
        ),
        Node(
            "u",
            "value",
            "u",
            HigherOrder("map", MakeList((Ref("t~1"),)), 1, GetField(Local(1), "score")),
            ty.ListT(INT),
            ("t~1",),
        ),
    )
    inputs = (InputSpec("x", INT, True, 1, "é", (2,)),)
    p = Pipeline.build(nodes, inputs, (("u", "u"), ("t", "t")), "")
    assert image.canonical_json(image.canonical_form(p)) == (
        '{"assignments":['
        '{"expr":["arith","*",true,["convert","Int","Float",["ref","x"]],["const",150.0]],'
        '"name":"t"},'
        '{"expr":["higher","map","$1",["list",["call",{"function":"crm.Fetch","kind":"module",'
        '"options":{},"params":["String"],"result":"{ score: Int }","version":"1"},null,'
        '["const","é"]]],["field","score",0,["local","$1"]]],"name":"u"}],'
        '"inputs":[{"default":1,"doc":"é","examples":[2],"name":"x","type":"Int"}],'
        '"outputs":["t","u"]}'
    )


def test_hash_ignores_positions_order_ids_and_parameter_names() -> None:
    """Node order, lines, columns, labels, hoisted ids and parameter names take no part."""
    p = sample()
    renamed = {"total~1": "total~7"}

    def rename(e: Expr) -> Expr:
        if isinstance(e, Ref):
            return Ref(renamed.get(e.node, e.node))
        if isinstance(e, Arith):
            return Arith(e.op, rename(e.left), rename(e.right), e.floating)
        if isinstance(e, IfExpr):
            return IfExpr(rename(e.cond), rename(e.then), rename(e.otherwise))
        if isinstance(e, Convert):
            return Convert(rename(e.expr), e.source, e.to)
        if isinstance(e, GetField):
            return GetField(rename(e.target), e.name, e.depth)
        return e

    nodes = []
    for n in reversed(p.nodes):
        expr = n.expr
        if isinstance(expr, CallExpr):
            expr = CallExpr(
                expr.function,
                expr.kind,
                expr.version,
                expr.args,
                expr.params,
                expr.result,
                expr.options,
                99,
                99,
                ("other",),
            )
        elif expr is not None:
            expr = rename(expr)
        nodes.append(
            Node(
                renamed.get(n.id, n.id),
                n.kind,
                n.name,
                expr,
                n.type,
                tuple(renamed.get(d, d) for d in n.deps),
                tuple(renamed.get(d, d) for d in n.lazy_deps),
                n.line + 10,
                n.column + 3,
                "x",
            )
        )
    # Dependencies first is the runtime's concern; the hash does not look at order.
    other = Pipeline.build(
        tuple(reversed(nodes)),
        tuple(reversed(p.inputs)),
        tuple(reversed(p.outputs)),
        "other source",
        p.unused,
    )
    assert other.structural_hash == p.structural_hash
    assert other.syntactic_hash != p.syntactic_hash


def variant_hash(**changes: Any) -> str:
    x = Node("x", "input", "x", None, changes.get("input_type", INT))
    value = changes.get("value", Arith("+", Ref("x"), Const(1), floating=False))
    call = fetch(
        Const("k"), changes.get("options", ir.DEFAULT_OPTIONS), changes.get("version", "1")
    )
    nodes = (
        x,
        Node("c", "call", "c", call, PROFILE),
        Node(changes.get("name", "v"), "value", changes.get("name", "v"), value, INT, ("x",)),
    )
    outputs = changes.get("outputs", (("c", "c"),))
    inputs = (InputSpec("x", changes.get("input_type", INT), *changes.get("default", ())),)
    return Pipeline.build(nodes, inputs, outputs, "", changes.get("unused", ())).structural_hash


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "w"},
        {"input_type": FLOAT},
        {"value": Arith("+", Ref("x"), Const(2), floating=False)},
        {"value": Arith("+", Ref("x"), Const(1.0), floating=False)},
        {"value": Arith("-", Ref("x"), Const(1), floating=False)},
        {"outputs": (("c", "c"), ("v", "v"))},
        {"options": Options(retry=1)},
        {"options": Options(timeout=1000)},
        {"options": Options(lazy=True)},
        {"version": "2"},
        {"default": (True, 5)},
        {"default": (False, None, "the doc")},
        {"unused": (UnusedAssignment("z", INT, Const(1)),)},
    ],
)
def test_any_semantic_change_changes_the_hash(changes: dict[str, Any]) -> None:
    """Names, types, literals (1 vs 1.0 too), operators, outputs, options, versions, docs."""
    assert variant_hash(**changes) != variant_hash()


def test_default_options_are_left_out_of_the_hash() -> None:
    """``retry: 0`` or ``priority: 50`` written out is the same as not writing them."""
    same = Options(retry=0, priority=50, on_error="fail", cache_backend="memory")
    assert variant_hash(options=same) == variant_hash()


def test_canonical_values_keep_floats_and_record_order() -> None:
    """150.0 stays a float, 1 an integer, records keep their field order under sorted keys."""
    t = ty.record([("b", FLOAT), ("a", INT)])
    spec = InputSpec("r", t, True, {"b": 150.0, "a": 1})
    p = Pipeline.build((Node("r", "input", "r", None, t),), (spec,), (("r", "r"),), "")
    text = image.canonical_json(image.canonical_form(p))
    assert '"default":{"record":[["b",150.0],["a",1]]}' in text
