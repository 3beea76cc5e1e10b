"""The IR data model: hand-built pipelines, the runtime's indexes, strict and conditional
positions."""

from __future__ import annotations

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


# --------------------------------------------------------------------------- the model


def test_every_expression_class_is_in_the_sample() -> None:
    """The round-trip sample really covers every expression class of the IR."""
    seen: set[type] = set()
    stack: list[Expr] = [n.expr for n in sample().nodes if n.expr is not None]
    while stack:
        e = stack.pop()
        seen.add(type(e))
        stack.extend(x for x, _ in ir.children(e))
    assert seen == set(Expr.__args__)


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
