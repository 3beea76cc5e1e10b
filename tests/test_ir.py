"""The IR on its own: hand-built pipelines, JSON round trips, validation, hashing, pictures."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from typing import Any

import pytest

from constellation import ir
from constellation import types as ty
from constellation.ir import (
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
    Pipeline,
    ProjectFields,
    Ref,
    UnusedAssignment,
    WhenExpr,
)

INT, FLOAT, STRING, BOOLEAN = ty.INT, ty.FLOAT, ty.STRING, ty.BOOLEAN
PROFILE = ty.record([("score", INT)])
WRAPPED = ty.record(
    [("ok", BOOLEAN), ("value", ty.optional(PROFILE)), ("error", ty.optional(STRING))]
)
EVENT = ty.union([ty.record([("id", STRING), ("amount", INT)]), ty.record([("note", STRING)])])


def fetch(arg: Expr, options: Options = ir.DEFAULT_OPTIONS, version: str = "1") -> CallExpr:
    return CallExpr(
        "crm.Fetch", "module", version, (arg,), (STRING,), PROFILE, options, 3, 9, ("key",)
    )


def sample() -> Pipeline:
    """A pipeline that uses every node kind and every expression kind."""
    nodes = (
        Node("n", "input", "n", None, INT, line=1, column=4, label="n"),
        Node("xs", "input", "xs", None, ty.ListT(INT), line=2, column=4, label="xs"),
        Node("ev", "input", "ev", None, EVENT, line=3, column=4, label="ev"),
        Node("o", "input", "o", None, ty.optional(INT), line=4, column=4, label="o"),
        Node(
            "profile",
            "call",
            "profile",
            fetch(
                Interpolate(("id-", ""), (Ref("n"),), (INT,)),
                Options(
                    retry=2,
                    timeout=3000,
                    delay=200,
                    backoff="linear",
                    fallback=MakeRecord(("score",), (Ref("n"),)),
                    cache=60000,
                    cache_backend="redis",
                    throttle=(10, 1000),
                    concurrency=4,
                    on_error="wrap",
                    priority=80,
                    lazy=True,
                ),
            ),
            WRAPPED,
            ("n",),
            (),
            5,
            1,
            "crm.Fetch",
        ),
        Node(
            "total~1",
            "call",
            None,
            fetch(Const("k")),
            PROFILE,
            (),
            (),
            6,
            30,
            "crm.Fetch",
        ),
        Node(
            "total",
            "value",
            "total",
            Arith(
                "+",
                Convert(Ref("n"), INT, FLOAT),
                IfExpr(
                    And(Compare(">", Ref("n"), Const(1)), Not(Or(Const(True), Const(False)))),
                    Neg(Const(2.5), floating=True),
                    Convert(GetField(Ref("total~1"), "score"), INT, FLOAT),
                ),
                floating=True,
            ),
            FLOAT,
            ("n",),
            ("total~1",),
            6,
            1,
            "total",
        ),
        Node(
            "rest",
            "value",
            "rest",
            MakeRecord(
                ("a", "b", "c", "d", "e"),
                (
                    BranchExpr(
                        ((Compare("==", Ref("n"), Const(0)), Const("zero")),), Const("many")
                    ),
                    WhenExpr(Const(1), Compare("<", Ref("n"), Const(5))),
                    CoalesceExpr(Ref("o"), Const(0)),
                    MatchExpr(
                        Ref("ev"),
                        1,
                        (
                            MatchCase(FieldsPattern(("id", "amount")), GetField(Local(1), "id")),
                            MatchCase(IsPattern(ty.record([("note", STRING)])), Const("note")),
                            MatchCase(AnyPattern(), Const("?")),
                        ),
                    ),
                    HigherOrder(
                        "map",
                        Ref("xs"),
                        1,
                        HigherOrder("any", Ref("xs"), 2, Compare("<", Local(1), Local(2))),
                    ),
                ),
            ),
            ty.record(
                [
                    ("a", STRING),
                    ("b", ty.optional(INT)),
                    ("c", INT),
                    ("d", STRING),
                    ("e", ty.ListT(BOOLEAN)),
                ]
            ),
            ("n", "o", "ev", "xs"),
            (),
            7,
            1,
            "rest",
        ),
        Node(
            "lists",
            "value",
            "lists",
            Merge(
                MakeList((MakeRecord(("a",), (Const(1),)),)),
                ProjectFields(MakeList((MakeRecord(("b", "c"), (Const(2), Const(3))),)), ("b",), 1),
                "list-list",
            ),
            ty.ListT(ty.record([("a", INT), ("b", INT)])),
            line=8,
            column=1,
            label="lists",
        ),
    )
    inputs = (
        InputSpec("n", INT),
        InputSpec("xs", ty.ListT(INT), True, [1, 2], "the numbers", ([3],)),
        InputSpec("ev", EVENT, examples=({"id": "a", "amount": 2},)),
        InputSpec("o", ty.optional(INT), True, 2),
    )
    outputs = (("total", "total"), ("rest", "rest"), ("lists", "lists"), ("profile", "profile"))
    unused = (UnusedAssignment("spare", PROFILE, fetch(GetField(Ref("ev"), "note"))),)
    return Pipeline.build(nodes, inputs, outputs, "in n: Int\n# the source\n", unused)


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


def test_every_expression_class_is_in_the_sample() -> None:
    """The round-trip sample really covers every expression class of the IR."""
    seen: set[type] = set()
    stack: list[Expr] = [n.expr for n in sample().nodes if n.expr is not None]
    while stack:
        e = stack.pop()
        seen.add(type(e))
        stack.extend(x for x, _ in ir.children(e))
    assert seen == set(Expr.__args__)


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


def test_indexes_for_the_runtime() -> None:
    """Positions, strict and lazy dependency positions and dependants are precomputed."""
    p = sample()
    assert p.index["total"] == 6
    assert p.node("total").deps == ("n",)
    assert p.dep_index[6] == (p.index["n"],)
    assert p.lazy_dep_index[6] == (p.index["total~1"],)
    assert set(p.dependants[p.index["n"]]) == {p.index[x] for x in ("profile", "total", "rest")}
    assert p.input_specs["xs"].default == [1, 2]
    assert p.output_types["profile"] == WRAPPED
    assert p.node("profile").call is not None
    assert p.node("total").call is None


def test_duplicate_and_unknown_node_ids_are_refused() -> None:
    """A pipeline cannot be built with two nodes of one id or a dependency on nothing."""
    n = Node("n", "input", "n", None, INT)
    with pytest.raises(ValueError, match="duplicate node id 'n'"):
        Pipeline((n, n), (), (), "", "", "")
    with pytest.raises(ValueError, match="unknown node 'zz'"):
        Pipeline((Node("v", "value", "v", Ref("zz"), INT, ("zz",)),), (), (), "", "", "")


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
    with ir.recursion_room():  # json.dumps and == recurse per level too
        data = json.loads(json.dumps(p.to_json()))
        back = Pipeline.from_json(data)
        assert back == p
    assert ir.canonical_form(p)["assignments"]
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
        ir.canonical_form(p), sort_keys=True, separators=(",", ":"), ensure_ascii=False
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
    assert ir.canonical_json(ir.canonical_form(p)) == (
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
    text = ir.canonical_json(ir.canonical_form(p))
    assert '"default":{"record":[["b",150.0],["a",1]]}' in text


# --------------------------------------------------------------------------- dependencies


def test_strict_and_conditional_positions() -> None:
    """§5.2: what is always evaluated is strict; arms, right operands, bodies are lazy."""
    cases: list[tuple[Expr, tuple[str, ...], tuple[str, ...]]] = [
        (IfExpr(Ref("c"), Ref("a"), Ref("b")), ("c",), ("a", "b")),
        (
            BranchExpr(((Ref("c1"), Ref("e1")), (Ref("c2"), Ref("e2"))), Ref("e0")),
            ("c1",),
            ("e1", "c2", "e2", "e0"),
        ),
        (BranchExpr((), Ref("e0")), ("e0",), ()),
        (WhenExpr(Ref("v"), Ref("c")), ("c",), ("v",)),
        (CoalesceExpr(Ref("a"), Ref("b")), ("a",), ("b",)),
        (And(Ref("a"), Ref("b")), ("a",), ("b",)),
        (Or(Ref("a"), Ref("b")), ("a",), ("b",)),
        (
            MatchExpr(Ref("s"), 1, (MatchCase(AnyPattern(), Ref("b")),)),
            ("s",),
            ("b",),
        ),
        (HigherOrder("filter", Ref("xs"), 1, Ref("p")), ("xs",), ("p",)),
        (
            fetch(Ref("a"), Options(fallback=Ref("f"))),
            ("a",),
            ("f",),
        ),
        (Arith("+", Ref("a"), Ref("b"), floating=False), ("a", "b"), ()),
        (IfExpr(Ref("c"), Ref("c"), Ref("a")), ("c",), ("a",)),
        (WhenExpr(IfExpr(Ref("c"), Ref("a"), Ref("b")), Ref("d")), ("d",), ("c", "a", "b")),
        (Interpolate(("", "-", ""), (Ref("a"), Ref("b")), (INT, INT)), ("a", "b"), ()),
    ]
    for expr, strict, lazy in cases:
        assert ir.dependencies(expr) == (strict, lazy), expr


# --------------------------------------------------------------------------- conversions


def convert(value: object, source: ty.Type, to: ty.Type) -> object:
    conv = ir.converter(source, to)
    assert (conv is None) == (not ir.needs_conversion(source, to))
    return value if conv is None else conv(value)


def test_int_to_float_deep_inside_containers() -> None:
    """Ints become floats inside lists, maps, optionals and record fields."""
    source = ty.ListT(ty.record([("n", ty.optional(INT)), ("m", ty.MapT(STRING, INT))]))
    to = ty.ListT(ty.record([("n", ty.optional(FLOAT)), ("m", ty.MapT(STRING, FLOAT))]))
    value = [{"n": 1, "m": {"k": 2}}, {"n": None, "m": {}}]
    out = convert(value, source, to)
    assert out == [{"n": 1.0, "m": {"k": 2.0}}, {"n": None, "m": {}}]
    assert isinstance(out, list)
    assert isinstance(out[0]["n"], float)
    assert value == [{"n": 1, "m": {"k": 2}}, {"n": None, "m": {}}]  # not mutated


def test_records_are_narrowed_and_reordered() -> None:
    """A record keeps only the target's fields, in the target's order."""
    source = ty.record([("a", INT), ("b", STRING), ("c", INT)])
    out = convert({"a": 1, "b": "x", "c": 3}, source, ty.record([("c", INT), ("a", FLOAT)]))
    assert out == {"c": 3, "a": 1.0}
    assert isinstance(out, dict)
    assert list(out) == ["c", "a"]


def test_nothing_to_convert() -> None:
    """Equal types, Nothing and String into Optional<String> need no conversion."""
    assert ir.converter(INT, INT) is None
    assert ir.converter(ty.ListT(ty.NOTHING), ty.ListT(FLOAT)) is None
    assert ir.converter(STRING, ty.optional(STRING)) is None
    assert ir.converter(INT, ty.union([INT, STRING])) is None
    assert ir.converter(ty.record([("a", INT)]), ty.record([("a", INT)])) is None


def test_union_sources_convert_by_the_member_the_value_is() -> None:
    """Int | Float into Float: only the ints change; a union target picks the member."""
    assert convert(3, ty.union([FLOAT, INT]), FLOAT) == 3.0
    assert isinstance(convert(3, ty.union([FLOAT, INT]), FLOAT), float)
    assert convert(2.5, ty.union([FLOAT, INT]), FLOAT) == 2.5
    assert isinstance(convert(3, INT, ty.union([FLOAT, STRING])), float)
    narrowed = convert(
        {"a": 1, "b": 2},
        ty.record([("a", INT), ("b", INT)]),
        ty.union([ty.record([("a", INT)]), ty.record([("b", STRING)])]),
    )
    assert narrowed == {"a": 1}


# --------------------------------------------------------------------------- pictures


def test_dot_shows_nodes_outputs_and_labelled_edges() -> None:
    """Inputs, values, calls and outputs; call edges named by parameter; lazy edges dashed."""
    dot = sample().to_dot()
    assert dot.startswith("digraph pipeline {\n")
    assert dot.endswith("}\n")
    assert '"n" [label="n\\nInt", shape=ellipse' in dot
    assert '"profile" [label="profile\\ncrm.Fetch", shape=box, style="rounded,filled"' in dot
    assert '"total~1" [label="crm.Fetch"' in dot
    assert '"n" -> "profile" [label="key, fallback"];' in dot
    assert '"total~1" -> "total" [style=dashed];' in dot
    assert '"out:total" [label="total", shape=doubleoctagon];' in dot
    assert '"total" -> "out:total";' in dot


def test_dot_escapes_quotes_backslashes_and_line_breaks() -> None:
    """Whatever text ends up in an id or a label is a valid DOT string."""
    t = ty.record([("a", INT)])
    node = Node('we"ird\\id\nx', "input", "n", None, t)
    dot = Pipeline.build((node,), (), (), "").to_dot()
    assert '"we\\"ird\\\\id\\nx" [label="we\\"ird\\\\id\\nx\\n{ a: Int }"' in dot


def test_dag_json_for_clients() -> None:
    """Nodes with kinds, types and modules; edges with laziness and parameter labels."""
    dag = sample().dag_json()
    nodes = {n["id"]: n for n in dag["nodes"]}  # type: ignore[attr-defined]
    assert nodes["profile"]["module"] == "crm.Fetch"
    assert nodes["profile"]["type"] == ty.show(WRAPPED)
    assert nodes["out:lists"] == {
        "id": "out:lists",
        "kind": "output",
        "name": "lists",
        "label": "lists",
        "type": "List<{ a: Int, b: Int }>",
        "module": None,
        "line": 0,
        "column": 0,
    }
    edges = dag["edges"]
    assert {"from": "n", "to": "profile", "lazy": False, "label": "key, fallback"} in edges  # type: ignore[operator]
    assert {"from": "total~1", "to": "total", "lazy": True, "label": None} in edges  # type: ignore[operator]
    json.dumps(dag)
