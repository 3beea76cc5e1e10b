"""The compiler, from source text: IR trees, hoisted calls, conversions, options, hashes."""

from __future__ import annotations

import json
from typing import TypedDict

import pytest

from constellation import Engine, image, ir
from constellation import types as ty
from constellation.compiler import compile_checked
from constellation.frontend import analyse
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
    Interpolate,
    IsPattern,
    Local,
    MakeList,
    MakeRecord,
    MatchCase,
    MatchExpr,
    Merge,
    Neg,
    Not,
    Options,
    Or,
    Pipeline,
    ProjectFields,
    Ref,
    WhenExpr,
)
from constellation.limits import DEFAULT_LIMITS
from constellation.modules import Registry
from constellation.source import Source
from constellation.values import converter
from tests.conftest import dedent

INT, FLOAT, STRING, BOOLEAN = ty.INT, ty.FLOAT, ty.STRING, ty.BOOLEAN


class Profile(TypedDict):
    score: int


PROFILE = ty.record([("score", INT)])


def make_registry(*, version: str = "7", fetch_retry: int = 3) -> Registry:
    """Modules for these tests; ``version`` and ``fetch_retry`` vary for hash tests."""
    reg = Registry()

    @reg.module(retry=fetch_retry, timeout="5s", priority="high")
    def Fetch(key: str) -> Profile:
        return {"score": len(key)}

    @reg.module
    def Score(x: float) -> float:
        return x * 2

    @reg.module
    def Double(x: int) -> int:
        return x * 2

    @reg.module
    def Triple(x: int) -> int:
        return x * 3

    @reg.module
    def TakeProfile(p: Profile) -> int:
        return p["score"]

    @reg.module(name="total", namespace="billing.v2", version=version)
    def billing_total(amount: float) -> float:
        return amount

    return reg


REGISTRY = make_registry()


def compile_text(text: str, registry: Registry = REGISTRY) -> Pipeline:
    """Parse, check and compile ``text`` (dedented).

    Every sample of this module also goes through the store's JSON form and back: the loaded
    pipeline must be equal, with the same JSON, canonical form and hash.
    """
    analysis = analyse(Source(dedent(text)), registry, DEFAULT_LIMITS)
    checked = analysis.raise_for_errors()
    p = compile_checked(checked, registry)
    data = p.to_json()
    back = Pipeline.from_json(json.loads(json.dumps(data)))
    assert back == p
    assert back.to_json() == data
    assert image.canonical_form(back) == image.canonical_form(p)
    assert back.structural_hash == p.structural_hash
    return p


def value_of(text: str, name: str = "v", registry: Registry = REGISTRY) -> Expr | None:
    return compile_text(text, registry).node(name).expr


def hash_of(text: str, registry: Registry = REGISTRY) -> str:
    return compile_text(text, registry).structural_hash


SPEC_EXAMPLE = """
    # Price an order and decide whether a person must review it.
    type Line = {sku: String, qty: Int, price: Float}

    @doc("Order lines as sent by the shop")
    in lines: List<Line>
    in customer: {id: String, tier: String}
    in threshold: Float = 500.0

    subtotal = list-sum(map(lines, (l) => l.qty * l.price))
    vip      = customer.tier == "gold"
    discount = 0.1 * subtotal when vip            # Optional<Float>
    total    = subtotal - (discount ?? 0.0)
    profile  = Fetch(customer.id) with retry: 2, timeout: 3s, fallback: {score: 0}
    review   = branch {
      total > threshold and not vip -> "manual",
      profile.score < 20            -> "manual",
      otherwise                     -> "auto"
    }
    summary  = "${customer.id}: ${total} (${review})"

    out total
    out review
    out summary
"""


# --------------------------------------------------------------------------- the DAG


def test_the_spec_example_compiles_to_a_dag() -> None:
    """Inputs and needed assignments become nodes in dependency order, with strict and lazy
    dependencies as §5.2 says."""
    p = compile_text(SPEC_EXAMPLE)
    assert [n.id for n in p.nodes] == [
        "lines",
        "customer",
        "threshold",
        "subtotal",
        "vip",
        "discount",
        "total",
        "profile",
        "review",
        "summary",
    ]
    assert p.node("discount").deps == ("vip",)
    assert p.node("discount").lazy_deps == ("subtotal",)
    assert p.node("review").deps == ("total", "threshold")
    assert p.node("review").lazy_deps == ("vip", "profile")
    assert p.node("profile").kind == "call"
    assert p.node("profile").label == "Fetch"
    assert (p.node("profile").line, p.node("profile").column) == (13, 1)
    assert p.outputs == (("total", "total"), ("review", "review"), ("summary", "summary"))
    assert p.inputs[0].doc == "Order lines as sent by the shop"
    assert p.input_specs["threshold"].has_default
    assert p.input_specs["threshold"].default == 500.0
    assert p.node("subtotal").type == FLOAT


def test_the_spec_example_expression_trees() -> None:
    """Whole trees: lambdas by level, widening inside the lambda, the coalesce, the call."""
    p = compile_text(SPEC_EXAMPLE)
    line = ty.record([("sku", STRING), ("qty", INT), ("price", FLOAT)])
    assert p.node("subtotal").expr == CallExpr(
        "stdlib.list.list-sum",
        "library",
        "1",
        (
            HigherOrder(
                "map",
                Ref("lines"),
                1,
                Arith(
                    "*",
                    Convert(GetField(Local(1), "qty"), INT, FLOAT),
                    GetField(Local(1), "price"),
                    floating=True,
                ),
            ),
        ),
        (ty.ListT(FLOAT),),
        FLOAT,
        line=9,
        column=12,
    )
    assert ty.show(line) == "{ sku: String, qty: Int, price: Float }"
    assert p.node("discount").expr == WhenExpr(
        Arith("*", Const(0.1), Ref("subtotal"), floating=True), Ref("vip")
    )
    assert p.node("total").expr == Arith(
        "-", Ref("subtotal"), CoalesceExpr(Ref("discount"), Const(0.0)), floating=True
    )
    assert p.node("profile").expr == CallExpr(
        "Fetch",
        "module",
        "1",
        (GetField(Ref("customer"), "id"),),
        (STRING,),
        PROFILE,
        Options(
            retry=2,
            timeout=3000,
            priority=80,
            fallback=MakeRecord(("score",), (Const(0),)),
        ),
        line=13,
        column=12,
        param_names=("key",),
    )
    assert p.node("review").expr == BranchExpr(
        (
            (
                And(Compare(">", Ref("total"), Ref("threshold")), Not(Ref("vip"))),
                Const("manual"),
            ),
            (Compare("<", GetField(Ref("profile"), "score"), Const(20)), Const("manual")),
        ),
        Const("auto"),
    )
    assert p.node("summary").expr == Interpolate(
        ("", ": ", " (", ")"),
        (GetField(Ref("customer"), "id"), Ref("total"), Ref("review")),
        (STRING, FLOAT, STRING),
    )


INPUTS = """
    in a: Int
    in b: Float
    in c: Boolean
    in d: Boolean
    in s: String
    in o: Optional<Int>
    in xs: List<Int>
    in recs: List<{a: Int}>
    in r: {x: Int, y: String}
    in u: {amount: Int} | {amount: Float, note: String}
    in nested: List<{carrier: {code: String}}>
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a + 1", Arith("+", Ref("a"), Const(1), floating=False)),
        ("a + b", Arith("+", Convert(Ref("a"), INT, FLOAT), Ref("b"), floating=True)),
        ("1 + 2.5", Arith("+", Const(1.0), Const(2.5), floating=True)),
        ("a / 2 % 3", Arith("%", Arith("/", Ref("a"), Const(2), False), Const(3), False)),
        ("-a", Neg(Ref("a"), floating=False)),
        ("-b * 2", Arith("*", Neg(Ref("b"), floating=True), Const(2.0), floating=True)),
        ("a == 2.0", Compare("==", Ref("a"), Const(2.0))),
        ('s < "m"', Compare("<", Ref("s"), Const("m"))),
        ("not c and d or c", Or(And(Not(Ref("c")), Ref("d")), Ref("c"))),
        ("if (c) 3 else 0.5", IfExpr(Ref("c"), Const(3.0), Const(0.5))),
        ("if (c) a else b", IfExpr(Ref("c"), Convert(Ref("a"), INT, FLOAT), Ref("b"))),
        ("[2, 0.5]", MakeList((Const(2.0), Const(0.5)))),
        ("[a, b]", MakeList((Convert(Ref("a"), INT, FLOAT), Ref("b")))),
        ("[]", MakeList(())),
        ("a when c", WhenExpr(Ref("a"), Ref("c"))),
        ("o ?? 0", CoalesceExpr(Ref("o"), Const(0))),
        (
            "o ?? 2.5",
            CoalesceExpr(Convert(Ref("o"), ty.optional(INT), ty.optional(FLOAT)), Const(2.5)),
        ),
        ("o ?? o", CoalesceExpr(Ref("o"), Ref("o"))),
        ("{k: a, s: s}", MakeRecord(("k", "s"), (Ref("a"), Ref("s")))),
        ("r.x", GetField(Ref("r"), "x")),
        ("recs.a", GetField(Ref("recs"), "a", 1)),
        ("nested.carrier.code", GetField(GetField(Ref("nested"), "carrier", 1), "code", 1)),
        ("r[y, x]", ProjectFields(Ref("r"), ("y", "x"))),
        ("recs{a}", ProjectFields(Ref("recs"), ("a",), 1)),
        (
            "u.amount",
            Convert(GetField(Ref("u"), "amount"), ty.union([INT, FLOAT]), FLOAT),
        ),
        ("r + {z: 1}", Merge(Ref("r"), MakeRecord(("z",), (Const(1),)), "record")),
        ("recs + {z: 1}", Merge(Ref("recs"), MakeRecord(("z",), (Const(1),)), "list-record")),
        ("{z: 1} + recs", Merge(MakeRecord(("z",), (Const(1),)), Ref("recs"), "record-list")),
        ("recs + recs", Merge(Ref("recs"), Ref("recs"), "list-list")),
        (
            '"a=${a}, b=${b}${s}"',
            Interpolate(
                ("a=", ", b=", "", ""), (Ref("a"), Ref("b"), Ref("s")), (INT, FLOAT, STRING)
            ),
        ),
        (
            "branch { c -> 1, d -> 2.5, otherwise -> a }",
            BranchExpr(
                ((Ref("c"), Const(1.0)), (Ref("d"), Const(2.5))),
                Convert(Ref("a"), INT, FLOAT),
            ),
        ),
        ("branch { otherwise -> a }", BranchExpr((), Ref("a"))),
        (
            "map(xs, (x) => x * 2)",
            HigherOrder("map", Ref("xs"), 1, Arith("*", Local(1), Const(2), floating=False)),
        ),
        (
            "filter(xs, (x) => x > a)",
            HigherOrder("filter", Ref("xs"), 1, Compare(">", Local(1), Ref("a"))),
        ),
        (
            "any(xs, (x) => all(xs, (y) => x < y))",
            HigherOrder(
                "any",
                Ref("xs"),
                1,
                HigherOrder("all", Ref("xs"), 2, Compare("<", Local(1), Local(2))),
            ),
        ),
        (
            "map(xs, (x: Float) => x / 2)",
            HigherOrder(
                "map",
                Convert(Ref("xs"), ty.ListT(INT), ty.ListT(FLOAT)),
                1,
                Arith("/", Local(1), Const(2.0), floating=True),
            ),
        ),
        (
            "max(a, b)",
            CallExpr(
                "stdlib.math.max",
                "library",
                "1",
                (Convert(Ref("a"), INT, FLOAT), Ref("b")),
                (FLOAT, FLOAT),
                FLOAT,
                line=12,
                column=5,
            ),
        ),
    ],
)
def test_expressions_compile_to_explicit_trees(value: str, expected: Expr) -> None:
    """Operations chosen by static type, conversions where values change, levels for locals."""
    assert value_of(INPUTS + f"v = {value}\nout v\n") == expected


def test_match_patterns_bindings_and_narrowing() -> None:
    """Record patterns bind fields of the subject; `is` patterns carry resolved alias types;
    the subject's own name in a case body is the bound subject."""
    expr = value_of(
        """
        type Note = {note: String}
        type Event = {id: String, amount: Int} | {id: String, amount: Float} | Note
        in ev: Event
        in payload: List<String> | String
        v = match ev {
          {id, amount} -> "${id}: ${amount + 1}",
          is Note      -> ev.note,
        }
        w = match payload { is List<String> -> list-length(payload), _ -> 0 }
        out v
        out w
        """
    )
    subject_t = ty.union(
        [
            ty.record([("id", STRING), ("amount", INT)]),
            ty.record([("id", STRING), ("amount", FLOAT)]),
        ]
    )
    assert ty.show(subject_t)  # the two record variants a record pattern covers
    assert expr == MatchExpr(
        Ref("ev"),
        1,
        (
            MatchCase(
                FieldsPattern(("id", "amount")),
                Interpolate(
                    ("", ": ", ""),
                    (
                        GetField(Local(1), "id"),
                        Arith(
                            "+",
                            Convert(GetField(Local(1), "amount"), ty.union([INT, FLOAT]), FLOAT),
                            Const(1.0),
                            floating=True,
                        ),
                    ),
                    (STRING, FLOAT),
                ),
            ),
            MatchCase(IsPattern(ty.record([("note", STRING)])), GetField(Local(1), "note")),
        ),
    )


def test_match_on_a_lambda_parameter_and_wildcards() -> None:
    """A match inside a lambda takes the next level; cases may use the lambda's element."""
    expr = value_of(
        """
        in xs: List<{n: Int} | {s: String}>
        v = map(xs, (x) => match x { {n} -> n, _ -> 0 })
        out v
        """
    )
    assert expr == HigherOrder(
        "map",
        Ref("xs"),
        1,
        MatchExpr(
            Local(1),
            2,
            (
                MatchCase(FieldsPattern(("n",)), GetField(Local(2), "n")),
                MatchCase(AnyPattern(), Const(0)),
            ),
        ),
    )


def test_unused_declarations_are_not_compiled_into_nodes() -> None:
    """W001 declarations have no node (their calls neither); they are kept for the hash."""
    p = compile_text(
        """
        in a: Int
        in spare: Int
        v = a + 1
        unused = Double(a) + Double(spare)
        also = unused * 2
        out v
        """
    )
    assert [n.id for n in p.nodes] == ["a", "spare", "v"]
    assert [u.name for u in p.unused] == ["unused", "also"]
    unused = p.unused[0].expr
    assert isinstance(unused, Arith)
    assert isinstance(unused.left, CallExpr)  # calls stay inline: nothing is hoisted
    assert unused.left.function == "Double"
    assert p.unused[1].expr == Arith("*", Ref("unused"), Const(2), floating=False)


def test_compiling_a_program_with_errors_is_refused() -> None:
    """compile_checked needs a program without errors."""
    analysis = analyse(Source("v = nope\nout v\n"), REGISTRY, DEFAULT_LIMITS)
    assert analysis.checked is not None
    with pytest.raises(ValueError, match="cannot compile a program with errors"):
        compile_checked(analysis.checked, REGISTRY)


# --------------------------------------------------------------------------- hoisted calls


def test_module_calls_become_call_nodes_in_source_order() -> None:
    """Each module call gets a node ``decl~k`` (k in source order); nested calls come first
    in the node order; the parent refers to them."""
    p = compile_text(
        """
        in a: Int
        in b: Int
        v = Double(a) + Double(Triple(b))
        out v
        """
    )
    assert [n.id for n in p.nodes] == ["a", "b", "v~1", "v~3", "v~2", "v"]
    assert p.node("v").expr == Arith("+", Ref("v~1"), Ref("v~2"), floating=False)
    assert p.node("v").deps == ("v~1", "v~2")
    assert p.node("v~2").deps == ("v~3",)
    triple = p.node("v~3")
    assert (triple.kind, triple.name, triple.label, triple.deps) == ("call", None, "Triple", ("b",))
    assert (triple.line, triple.column) == (3, 24)
    call = triple.call
    assert call is not None
    assert call.args == (Ref("b"),)


def test_calls_in_conditional_positions_are_lazy_dependencies() -> None:
    """A hoisted call under an arm, a right operand or a fallback is a lazy dependency."""
    p = compile_text(
        """
        in a: Int
        in c: Boolean
        v = if (c) Double(a) else Triple(a)
        w = c and Double(a) > 2
        x = Double(a) with fallback: Triple(a)
        out v
        out w
        out x
        """
    )
    assert (p.node("v").deps, p.node("v").lazy_deps) == (("c",), ("v~1", "v~2"))
    assert (p.node("w").deps, p.node("w").lazy_deps) == (("c",), ("w~1",))
    assert (p.node("x").deps, p.node("x").lazy_deps) == (("a",), ("x~1",))
    assert p.node("x").kind == "call"
    call = p.node("x").call
    assert call is not None
    assert call.options.fallback == Ref("x~1")


def test_calls_in_lambda_bodies_stay_inline() -> None:
    """Per-element calls are evaluated by the lambda, not hoisted; their refs are lazy."""
    p = compile_text(
        """
        in xs: List<Int>
        in k: Int
        v = map(xs, (x) => Double(x + k))
        out v
        """
    )
    assert [n.id for n in p.nodes] == ["xs", "k", "v"]
    expr = p.node("v").expr
    assert isinstance(expr, HigherOrder)
    assert isinstance(expr.body, CallExpr)
    assert expr.body.kind == "module"
    assert expr.body.args == (Arith("+", Local(1), Ref("k"), floating=False),)
    assert (p.node("v").deps, p.node("v").lazy_deps) == (("xs",), ("k",))


def test_calls_in_match_cases_are_hoisted_unless_they_use_a_binding() -> None:
    """A call using the match's bindings stays inline; one that does not becomes a lazy
    node, its own lambdas renumbered from level 1."""
    p = compile_text(
        """
        in ev: {id: String} | {note: String}
        in xs: List<Int>
        v = match ev {
          {id} -> Fetch(id).score,
          _    -> Double(list-length(map(xs, (x) => x + 1))),
        }
        out v
        """
    )
    assert [n.id for n in p.nodes] == ["ev", "xs", "v~1", "v"]
    assert (p.node("v").deps, p.node("v").lazy_deps) == (("ev",), ("v~1",))
    expr = p.node("v").expr
    assert isinstance(expr, MatchExpr)
    inline = expr.cases[0].body
    assert isinstance(inline, GetField)
    assert isinstance(inline.target, CallExpr)
    assert inline.target.args == (GetField(Local(1), "id"),)
    assert expr.cases[1].body == Ref("v~1")
    hoisted = p.node("v~1").call
    assert hoisted is not None
    length = hoisted.args[0]
    assert isinstance(length, CallExpr)
    assert length.args == (
        HigherOrder("map", Ref("xs"), 1, Arith("+", Local(1), Const(1), floating=False)),
    )


def test_library_calls_stay_inline() -> None:
    """Standard-library calls are cheap and pure: they never become nodes."""
    p = compile_text(
        """
        in s: String
        v = string-length(uppercase(s)) + 1
        out v
        """
    )
    assert [n.id for n in p.nodes] == ["s", "v"]
    assert p.node("v").kind == "value"


# --------------------------------------------------------------------------- conversions


def test_arguments_are_converted_to_parameter_types() -> None:
    """Int → Float widening and record narrowing at module calls; none when nothing changes;
    literals are converted at compile time."""
    p = compile_text(
        """
        in a: Int
        in b: Float
        in p: {extra: String, score: Int}
        w1 = Score(a)
        w2 = Score(b)
        w3 = Score(2)
        n = TakeProfile(p)
        out w1
        out w2
        out w3
        out n
        """
    )

    def arg(name: str) -> Expr:
        call = p.node(name).call
        assert call is not None
        return call.args[0]

    assert arg("w1") == Convert(Ref("a"), INT, FLOAT)
    assert arg("w2") == Ref("b")
    assert arg("w3") == Const(2.0)
    assert arg("n") == Convert(Ref("p"), ty.record([("extra", STRING), ("score", INT)]), PROFILE)
    converted = converter(ty.record([("extra", STRING), ("score", INT)]), PROFILE)
    assert converted is not None
    assert converted({"extra": "x", "score": 3}) == {"score": 3}


def test_fallbacks_are_converted_to_the_result_type() -> None:
    """A fallback of a subtype becomes a value of the call's result type."""
    call = (
        compile_text(
            """
        in a: Int
        v = Score(a) with fallback: 1
        out v
        """
        )
        .node("v")
        .call
    )
    assert call is not None
    assert call.options.fallback == Const(1.0)


# --------------------------------------------------------------------------- options


def test_options_merge_decorator_defaults_with_the_with_clause() -> None:
    """Registration options are defaults; ``with`` overrides them one by one; values are
    normalized (durations in ms, priority words as numbers, propagate as fail)."""
    p = compile_text(
        """
        a = Fetch("k")
        b = Fetch("k") with retry: 1, priority: low, on_error: propagate
        c = Fetch("k") with cache: 1min, cache_backend: "memory", throttle: 10/1s, concurrency: 2, delay: 250ms, backoff: exponential, lazy
        d = Fetch("k") with on_error: wrap
        e = Double(1)
        out a
        out b
        out c
        out d
        out e
        """
    )

    def options(name: str) -> Options:
        call = p.node(name).call
        assert call is not None
        return call.options

    assert options("a") == Options(retry=3, timeout=5000, priority=80)
    assert options("b") == Options(retry=1, timeout=5000, priority=20)
    assert options("c") == Options(
        retry=3,
        timeout=5000,
        priority=80,
        cache=60000,
        throttle=(10, 1000),
        concurrency=2,
        delay=250,
        backoff="exponential",
        lazy=True,
    )
    assert options("d").wrap
    assert p.node("d").type == ty.record(
        [("ok", BOOLEAN), ("value", ty.optional(PROFILE)), ("error", ty.optional(STRING))]
    )
    assert options("e") is ir.DEFAULT_OPTIONS
    assert options("e").plain
    assert not options("a").plain


# --------------------------------------------------------------------------- the hash


SAME_HASH = [
    pytest.param(
        "in a: Int\nv = a + 1\nout v\n",
        "# a comment\nin   a :Int\n\n\nv=a+1   # more\nout v",
        id="whitespace and comments",
    ),
    pytest.param(
        "in a: Int\nw = v * 2\nv = a + 1\nout v\nout w\n",
        "in a: Int\nv = a + 1\nout w\nw = v * 2\nout v\n",
        id="declaration and out order",
    ),
    pytest.param(
        "in a: Int\nv = (a + 1) * 2 + a * 3\nout v\n",
        "in a: Int\nv = ((((a + 1)) * (2))) + (a * 3)\nout v\n",
        id="parentheses",
    ),
    pytest.param(
        "in a: Int\nv = [a, 2]\nw = {x: a}\nout v\nout w\n",
        "in a: Int\nv = [a, 2,]\nw = {x: a,}\nout v\nout w\n",
        id="trailing commas",
    ),
    pytest.param(
        "type P = {x: Int}\nin p: List<P>\nv = p.x\nout v\n",
        "type Point = {x: Int}\ntype Ps = List<Point>\nin p: Ps\nv = p.x\nout v\n",
        id="alias names",
    ),
    pytest.param(
        "in p: {x: Int}\nv = p.x\nout v\n",
        "type P = {x: Int}\nin p: P\nv = p.x\nout v\n",
        id="alias or written type",
    ),
    pytest.param(
        "in a: Int\nv = max(a, 2)\nout v\n",
        "use stdlib.math\nin a: Int\nv = math.max(a, 2)\nout v\n",
        id="use shorthand",
    ),
    pytest.param(
        "in a: Int\nv = stdlib.math.max(a, 2)\nout v\n",
        "use stdlib.math as m\nin a: Int\nv = m.max(a, 2)\nout v\n",
        id="qualified or aliased callee",
    ),
    pytest.param(
        "use billing.v2\nin a: Float\nv = total(a)\nout v\n",
        "in a: Float\nv = billing.v2.total(a)\nout v\n",
        id="module by import or qualified name",
    ),
    pytest.param(
        'in a: Float\nv = a * 1.5e2\nw = "\\u00e9"\nout v\nout w\n',
        'in a: Float\nv = a * 150.0\nw = "é"\nout v\nout w\n',
        id="literal spelling",
    ),
    pytest.param(
        'v = Fetch("k") with cache: 1min, timeout: 2000ms, priority: high, on_error: propagate\nout v\n',
        'v = Fetch("k") with cache: 60s, timeout: 2s, priority: 80, on_error: fail\nout v\n',
        id="option spelling",
    ),
    pytest.param(
        'v = Fetch("k") with lazy\nout v\n',
        'v = Fetch("k") with lazy: true\nout v\n',
        id="lazy flag",
    ),
    pytest.param(
        'v = Fetch("k")\nout v\n',
        'v = Fetch("k") with retry: 3, timeout: 5s, priority: high\nout v\n',
        id="options equal to the effective defaults",
    ),
    pytest.param(
        "in xs: List<Int>\nv = map(xs, (x) => any(xs, (y) => x < y))\nout v\n",
        "in xs: List<Int>\nv = map(xs, (elem) => any(xs, (other) => elem < other))\nout v\n",
        id="lambda parameter names",
    ),
    pytest.param(
        'in ev: {id: String} | {n: Int}\nv = match ev { {id} -> id, _ -> "-" }\nout v\n',
        'in ev: {id: String} | {n: Int}\nv = match ev {\n  {id} -> id,\n  _ -> "-",\n}\nout v\n',
        id="match layout",
    ),
]


@pytest.mark.parametrize(("left", "right"), SAME_HASH)
def test_equivalent_sources_share_the_structural_hash(left: str, right: str) -> None:
    """§12: the hash does not depend on the right-hand column of the canonical-form table."""
    a, b = compile_text(left), compile_text(right)
    assert a.structural_hash == b.structural_hash
    assert a.syntactic_hash != b.syntactic_hash


DIFFERENT_HASH = [
    pytest.param("in a: Int\nv = a + 1\nout v\n", "in a: Int\nw = a + 1\nout w\n", id="name"),
    pytest.param("in a: Int\nv = a + 1\nout v\n", "in b: Int\nv = b + 1\nout v\n", id="input"),
    pytest.param("in a: Int\nv = a\nout v\n", "in a: Float\nv = a\nout v\n", id="type"),
    pytest.param(
        "in r: {a: Int, b: Int}\nout r\n", "in r: {b: Int, a: Int}\nout r\n", id="field order"
    ),
    pytest.param("in a: Int\nv = a + 1\nout v\n", "in a: Int\nv = a + 2\nout v\n", id="literal"),
    pytest.param(
        "in a: Float\nv = a + 1\nout v\n", "in a: Float\nv = a + 1.5\nout v\n", id="float literal"
    ),
    pytest.param(
        'in a: Int\nv = "${1}"\nout v\n', 'in a: Int\nv = "${1.0}"\nout v\n', id="1 vs 1.0"
    ),
    pytest.param("in a: Int\nv = a + 1\nout v\n", "in a: Int\nv = a - 1\nout v\n", id="operator"),
    pytest.param(
        "in a: Int\nv = a + 1\nout v\n", "in a: Int\nv = a + 1\nout v\nout a\n", id="output"
    ),
    pytest.param(
        'v = Fetch("k") with retry: 1\nout v\n',
        'v = Fetch("k") with retry: 2\nout v\n',
        id="option",
    ),
    pytest.param("v = Double(2)\nout v\n", "v = Triple(2)\nout v\n", id="module"),
    pytest.param("in a: Int = 1\nout a\n", "in a: Int = 2\nout a\n", id="default"),
    pytest.param('@doc("one")\nin a: Int\nout a\n', '@doc("two")\nin a: Int\nout a\n', id="doc"),
    pytest.param(
        "in a: Int\n@example(1)\nin b: Int\nout a\n",
        "in a: Int\n@example(2)\nin b: Int\nout a\n",
        id="example of an unused input",
    ),
    pytest.param(
        "in a: Int\nv = a + 1\nspare = 1\nout v\n",
        "in a: Int\nv = a + 1\nspare = 2\nout v\n",
        id="unused assignment",
    ),
]


@pytest.mark.parametrize(("left", "right"), DIFFERENT_HASH)
def test_any_change_of_meaning_changes_the_structural_hash(left: str, right: str) -> None:
    """§12: names, types, literals, operators, outputs, options, modules, interface."""
    assert hash_of(left) != hash_of(right)


def test_module_version_and_registration_defaults_change_the_hash() -> None:
    """The registry's version of a module and its decorator defaults take part."""
    text = 'in a: Float\nv = billing.v2.total(a)\nw = Fetch("k")\nout v\nout w\n'
    base = hash_of(text)
    assert hash_of(text, make_registry()) == base
    assert hash_of(text, make_registry(version="8")) != base
    assert hash_of(text, make_registry(fetch_retry=4)) != base


def test_the_same_source_always_has_the_same_hash() -> None:
    """Compiling twice gives equal pipelines, the same JSON and the same hash."""
    a, b = compile_text(SPEC_EXAMPLE), compile_text(SPEC_EXAMPLE)
    assert a == b
    assert a.to_json() == b.to_json()
    assert a.structural_hash == b.structural_hash


# --------------------------------------------------------------------------- JSON, pictures


def test_dot_and_dag_of_a_compiled_program() -> None:
    """Edges into module calls carry the parameter names of the registered function."""
    p = compile_text(SPEC_EXAMPLE)
    assert '"customer" -> "profile" [label="key"];' in p.to_dot()
    edges = p.dag_json()["edges"]
    assert {"from": "profile", "to": "review", "lazy": True, "label": None} in edges  # type: ignore[operator]


def deep(prefix: str, inner: str, suffix: str, depth: int) -> str:
    return prefix * depth + inner + suffix * depth


@pytest.mark.parametrize(
    "value",
    [
        deep("-", "1", "", 255),
        deep("[", "1", "]", 255),
        deep("(", "1", ")", 255),
        deep("not ", "true", "", 255),
        deep("Double(", "1", ")", 255),
        deep("(1 + ", "2.5", ")", 127),
    ],
    ids=["negations", "lists", "parentheses", "nots", "calls", "widening sums"],
)
def test_programs_at_the_nesting_limit(value: str) -> None:
    """Expressions as deep as the parser allows compile, store as JSON (with the default
    recursion limit) and load back."""
    text = f"v = {value}\nout v\n"
    p = compile_text(text)
    data = json.loads(json.dumps(p.to_json()))
    assert Pipeline.from_json(data).to_json() == p.to_json()


def test_long_declaration_chains() -> None:
    """Thousands of chained declarations compile without recursing across declarations."""
    lines = ["in x0: Int"] + [f"x{i} = x{i - 1} + 1" for i in range(1, 3000)] + ["out x2999"]
    p = compile_text("\n".join(lines))
    assert len(p.nodes) == 3000
    assert p.node("x2999").deps == ("x2998",)


def test_the_pipeline_carries_the_compilers_warnings() -> None:
    """compile keeps its warnings on the pipeline (outside its identity), so callers need
    not check the source a second time."""
    engine = Engine(REGISTRY)
    source = "in a: Int\nunused = a + 1\nout a"
    pipeline = engine.compile(source)
    assert [d.code for d in pipeline.warnings] == [d.code for d in engine.check(source)]
    assert pipeline.warnings
    assert engine.compile("in a: Int\nout a").warnings == ()
