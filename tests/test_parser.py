"""The parser: whole syntax trees, exact syntax errors, limits, and properties (language.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark

from constellation.errors import Diagnostic
from constellation.lexer import Vocabulary
from constellation.limits import Limits
from constellation.parser import GRAMMAR_PATH, parse
from constellation.source import Source, Span
from constellation.syntax import (
    RESERVED_WORDS,
    Annotation,
    Assignment,
    Binary,
    BoolLit,
    Branch,
    BranchArm,
    Call,
    Coalesce,
    DurationLit,
    Expr,
    Field,
    FieldRef,
    FloatLit,
    If,
    InputDecl,
    Interpolation,
    IntLit,
    IsPattern,
    Lambda,
    ListLit,
    Match,
    MatchCase,
    MergeType,
    Name,
    Neg,
    Not,
    Option,
    OutputDecl,
    Program,
    Project,
    RecordField,
    RecordLit,
    RecordPattern,
    RecordType,
    StringLit,
    TypeApp,
    TypeDecl,
    TypeExpr,
    TypeField,
    TypeName,
    UnionType,
    UseDecl,
    When,
    Wildcard,
    WithCall,
)
from tests.conftest import dedent
from tests.strategies import GRAMMAR_PROGRAMS as _GRAMMAR
from tests.strategies import PIECES as _PIECES

PROGRAMS = Path(__file__).parent / "programs"


# --------------------------------------------------------------------------- helpers


def program(text: str) -> Program:
    """The tree of a program that must parse."""
    tree, diagnostics = parse(Source(text))
    assert diagnostics == (), [d.render(Source(text)) for d in diagnostics]
    assert tree is not None
    return tree


def expr(text: str) -> Expr:
    """The tree of an expression, as the right-hand side of an assignment."""
    declaration = program(f"x = {text}\nout x\n").declarations[0]
    assert isinstance(declaration, Assignment)
    return declaration.value


def type_expr(text: str) -> TypeExpr:
    """The tree of a type expression, as the type of an input."""
    declaration = program(f"in x: {text}\nout x\n").declarations[0]
    assert isinstance(declaration, InputDecl)
    return declaration.type


def diagnostics(text: str, limits: Limits | None = None) -> tuple[Diagnostic, ...]:
    tree, found = parse(Source(text), limits) if limits else parse(Source(text))
    assert tree is None
    return found


def errors(text: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of every diagnostic of a program that must not parse."""
    found = diagnostics(text)
    assert all(d.code == "E020" for d in found), found
    return [(d.line, d.column, d.message) for d in found]


def error(text: str) -> tuple[int, int, str]:
    """The single syntax error of ``x = <text>`` followed by ``out x``."""
    found = errors(f"x = {text}\nout x\n")
    assert len(found) == 1, found
    return found[0]


def n(name: str) -> Name:
    return Name(name)


def i(value: int) -> IntLit:
    return IntLit(value)


def b(op: str, left: Expr, right: Expr) -> Binary:
    return Binary(op, left, right)  # type: ignore[arg-type]


def call(callee: str, *args: Expr | Lambda) -> Call:
    return Call(tuple(callee.split(".")), args)


def t(name: str) -> TypeName:
    return TypeName(name)


# --------------------------------------------------------------------------- declarations


def test_every_declaration_kind_in_any_order() -> None:
    """Declarations may come in any order and keep it; each kind builds its node."""
    tree = program(
        dedent(
            """
            out total
            total = price * 2
            use stdlib.math
            use billing.v2 as bill
            in price: Int = 5
            type Price = {cents: Int}
            """
        )
    )
    assert tree.declarations == (
        OutputDecl("total"),
        Assignment("total", b("*", n("price"), i(2))),
        UseDecl(("stdlib", "math")),
        UseDecl(("billing", "v2"), "bill"),
        InputDecl("price", t("Int"), i(5)),
        TypeDecl("Price", RecordType((TypeField("cents", t("Int")),))),
    )


def test_declarations_need_no_separator() -> None:
    """Several declarations on one line are fine (one per line is only the convention)."""
    assert program("a = 1 b = a out b").declarations == (
        Assignment("a", i(1)),
        Assignment("b", n("a")),
        OutputDecl("b"),
    )


def test_the_opening_example_of_the_spec_parses() -> None:
    """The short program at the top of language.md parses into the expected tree."""
    tree = program((PROGRAMS / "valid" / "pricing.cst").read_text(encoding="utf-8"))
    names = [getattr(d, "name", None) for d in tree.declarations]
    assert names == [
        "Line",
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
        "total",
        "review",
        "summary",
    ]
    profile = tree.declarations[8]
    assert profile == Assignment(
        "profile",
        WithCall(
            call("FetchProfile", Field(n("customer"), "id")),
            (
                Option("retry", i(2)),
                Option("timeout", DurationLit(3000, "3s")),
                Option("fallback", RecordLit((RecordField("score", i(0)),))),
            ),
        ),
    )
    review = tree.declarations[9]
    assert review == Assignment(
        "review",
        Branch(
            (
                BranchArm(
                    b("and", b(">", n("total"), n("threshold")), Not(n("vip"))),
                    StringLit("manual"),
                ),
                BranchArm(b("<", Field(n("profile"), "score"), i(20)), StringLit("manual")),
            ),
            StringLit("auto"),
        ),
    )


@pytest.mark.parametrize("path", sorted((PROGRAMS / "valid").glob("*.cst")), ids=lambda p: p.name)
def test_sample_programs_parse(path: Path) -> None:
    """Every valid sample program parses."""
    program(path.read_text(encoding="utf-8"))


def test_inputs_with_annotations_and_defaults() -> None:
    """Annotations stand before `in`; defaults are constants, negative numbers included."""
    tree = program(
        dedent(
            """
            @doc("The order")
            @example({id: 1})
            @example({id: 2})
            in order: {id: Int}
            @doc()
            in limit: Float = -1.5
            in tags: List<String> = ["a", "b"]
            out order
            """
        )
    )
    assert tree.declarations[:3] == (
        InputDecl(
            "order",
            RecordType((TypeField("id", t("Int")),)),
            None,
            (
                Annotation("doc", StringLit("The order")),
                Annotation("example", RecordLit((RecordField("id", i(1)),))),
                Annotation("example", RecordLit((RecordField("id", i(2)),))),
            ),
        ),
        InputDecl("limit", t("Float"), Neg(FloatLit(1.5)), (Annotation("doc", None),)),
        InputDecl(
            "tags",
            TypeApp("List", (t("String"),)),
            ListLit((StringLit("a"), StringLit("b"))),
        ),
    )


def test_comments_and_blank_lines_are_ignored() -> None:
    """`#` starts a comment outside strings; inside a string it is a character."""
    tree = program('# head\n\nx = "a # b"  # tail\n   # alone\nout x # end')
    assert tree.declarations == (Assignment("x", StringLit("a # b")), OutputDecl("x"))


def test_crlf_line_ends_and_a_leading_bom_are_accepted() -> None:
    """CR LF ends lines; a BOM before the program is ignored."""
    tree = program("\ufeffx = 1\r\ny = x\r\nout y\r\n")
    assert tree.declarations[1] == Assignment("y", n("x"))
    assert tree.declarations[1].span == Span(2, 1, 2, 6)


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("Int", t("Int")),
        ("Order", t("Order")),
        ("List<Int>", TypeApp("List", (t("Int"),))),
        (
            "Map<String, List<Int>>",
            TypeApp("Map", (t("String"), TypeApp("List", (t("Int"),)))),
        ),
        ("Optional<Optional<Int>>", TypeApp("Optional", (TypeApp("Optional", (t("Int"),)),))),
        ("{}", RecordType(())),
        (
            "{a: Int, b: List<String>,}",
            RecordType((TypeField("a", t("Int")), TypeField("b", TypeApp("List", (t("String"),))))),
        ),
        (
            "{type: String, in: Int, out: Boolean, _: Int}",
            RecordType(
                (
                    TypeField("type", t("String")),
                    TypeField("in", t("Int")),
                    TypeField("out", t("Boolean")),
                    TypeField("_", t("Int")),
                )
            ),
        ),
        ("A | B | C", UnionType((t("A"), t("B"), t("C")))),
        ("(A | B) | (C | D)", UnionType((t("A"), t("B"), t("C"), t("D")))),
        ("A + B + C", MergeType(MergeType(t("A"), t("B")), t("C"))),
        ("A + (B + C)", MergeType(t("A"), MergeType(t("B"), t("C")))),
        ("A + B | C", UnionType((MergeType(t("A"), t("B")), t("C")))),
        ("A | B + C", UnionType((t("A"), MergeType(t("B"), t("C"))))),
        ("((Int))", t("Int")),
        (
            "List<{id: Int} | {note: String}>",
            TypeApp(
                "List",
                (
                    UnionType(
                        (
                            RecordType((TypeField("id", t("Int")),)),
                            RecordType((TypeField("note", t("String")),)),
                        )
                    ),
                ),
            ),
        ),
    ],
)
def test_type_expressions(text: str, tree: TypeExpr) -> None:
    """Type syntax: generics, records, unions (flat), merges (left-assoc, tighter than |)."""
    assert type_expr(text) == tree


def test_type_alias_of_a_merge() -> None:
    """A type declaration names any type expression."""
    assert program("type T = Base + {extra: Int}\nin x: T\nout x").declarations[0] == TypeDecl(
        "T", MergeType(t("Base"), RecordType((TypeField("extra", t("Int")),)))
    )


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("1 + 2 * 3", b("+", i(1), b("*", i(2), i(3)))),
        ("1 - 2 - 3", b("-", b("-", i(1), i(2)), i(3))),
        ("a * b / c % d", b("%", b("/", b("*", n("a"), n("b")), n("c")), n("d"))),
        ("a + 1 < b * 2", b("<", b("+", n("a"), i(1)), b("*", n("b"), i(2)))),
        ("a == b", b("==", n("a"), n("b"))),
        ("a != b", b("!=", n("a"), n("b"))),
        ("a <= b", b("<=", n("a"), n("b"))),
        ("a >= b", b(">=", n("a"), n("b"))),
        ("a > b", b(">", n("a"), n("b"))),
        ("a or b and c", b("or", n("a"), b("and", n("b"), n("c")))),
        ("a and b or c", b("or", b("and", n("a"), n("b")), n("c"))),
        ("a or b or c", b("or", b("or", n("a"), n("b")), n("c"))),
        ("not x == y", Not(b("==", n("x"), n("y")))),
        ("not a and b", b("and", Not(n("a")), n("b"))),
        ("not not a", Not(Not(n("a")))),
        ("-r.n * 2", b("*", Neg(Field(n("r"), "n")), i(2))),
        ("- a + b", b("+", Neg(n("a")), n("b"))),
        ("4 - -1", b("-", i(4), Neg(i(1)))),
        ("--a", Neg(Neg(n("a")))),
        ("a--b", b("-", n("a"), Neg(n("b")))),
        ("price-tax", n("price-tax")),
        ("n-1", n("n-1")),
        ("in-stock", n("in-stock")),
        ("price - tax", b("-", n("price"), n("tax"))),
        ("price -tax", b("-", n("price"), n("tax"))),
        ("price- tax", b("-", n("price"), n("tax"))),
        ("3-1", b("-", i(3), i(1))),
        ("price when inStock ?? 0", Coalesce(When(n("price"), n("inStock")), i(0))),
        ("cached ?? fresh when ok", Coalesce(n("cached"), When(n("fresh"), n("ok")))),
        ("v when a or b", When(n("v"), b("or", n("a"), n("b")))),
        ("a ?? b ?? c", Coalesce(n("a"), Coalesce(n("b"), n("c")))),
        ("if (c) 1 else 2 * 5", If(n("c"), i(1), b("*", i(2), i(5)))),
        ("(if (c) 1 else 2) * 5", b("*", If(n("c"), i(1), i(2)), i(5))),
        ("if (a) if (b) 1 else 2 else 3", If(n("a"), If(n("b"), i(1), i(2)), i(3))),
        ("a ?? (if (c) 1 else 2)", Coalesce(n("a"), If(n("c"), i(1), i(2)))),
        ("(a + b) * c", b("*", b("+", n("a"), n("b")), n("c"))),
        ("((a))", n("a")),
        ("x + y when ok", When(b("+", n("x"), n("y")), n("ok"))),
        ("a < b and b < c", b("and", b("<", n("a"), n("b")), b("<", n("b"), n("c")))),
    ],
)
def test_operator_precedence_and_associativity(text: str, tree: Expr) -> None:
    """The precedence table of §4.1 and its listed consequences."""
    assert expr(text) == tree


def test_binary_spans_cover_parentheses_and_mark_the_operator() -> None:
    """A binary node spans its operands (parentheses included) and knows its operator's place."""
    value = expr("(a + b) * c")
    assert isinstance(value, Binary)
    assert value.span == Span(1, 5, 1, 16)
    assert value.op_span == Span(1, 13, 1, 14)
    assert isinstance(value.left, Binary)
    assert value.left.span == Span(1, 6, 1, 11)


# --------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("0", i(0)),
        ("123", i(123)),
        ("9223372036854775807", i(9223372036854775807)),
        ("1.5", FloatLit(1.5)),
        ("2e3", FloatLit(2000.0)),
        ("1.5e-2", FloatLit(0.015)),
        ("0.5", FloatLit(0.5)),
        ("0e0", FloatLit(0.0)),
        ("true", BoolLit(True)),
        ("false", BoolLit(False)),
        ("[]", ListLit(())),
        ("[1, 2,]", ListLit((i(1), i(2)))),
        ("[[1], []]", ListLit((ListLit((i(1),)), ListLit(())))),
        ("{}", RecordLit(())),
        (
            "{a: 1, type: 2, in: 3,}",
            RecordLit((RecordField("a", i(1)), RecordField("type", i(2)), RecordField("in", i(3)))),
        ),
        ("1.x", Field(i(1), "x")),
    ],
)
def test_literals(text: str, tree: Expr) -> None:
    """Numbers, booleans, lists and records, trailing commas allowed."""
    assert expr(text) == tree


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'"plain"', "plain"),
        (r'""', ""),
        (r'"a\"b"', 'a"b'),
        (r'"back\\slash"', "back\\slash"),
        (r'"1\n2\t3\r"', "1\n2\t3\r"),
        (r'"\${not interpolated}"', "${not interpolated}"),
        (r'"US$ 20 $"', "US$ 20 $"),
        (r'"\u00e9\u{1F600}\u{41}"', "é😀A"),
        ('"tab\tinside"', "tab\tinside"),
        ('"# not a comment"', "# not a comment"),
        ('"ünïcödé ✓"', "ünïcödé ✓"),
    ],
)
def test_string_escapes(text: str, value: str) -> None:
    """Every escape of §1.6 decodes; `$` not followed by `{` is ordinary."""
    assert expr(text) == StringLit(value)


# --------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('"total: ${t}"', Interpolation(("total: ", n("t")))),
        ('"${a}${b}"', Interpolation((n("a"), n("b")))),
        ('"${ a + 1 } end"', Interpolation((b("+", n("a"), i(1)), " end"))),
        ('"${join(tags, ", ")}"', Interpolation((call("join", n("tags"), StringLit(", ")),))),
        ('"${ {a: 1} }"', Interpolation((RecordLit((RecordField("a", i(1)),)),))),
        (
            '"a ${ "b ${c} d" } e"',
            Interpolation(("a ", Interpolation(("b ", n("c"), " d")), " e")),
        ),
        ('"${f([1, (2)])}"', Interpolation((call("f", ListLit((i(1), i(2)))),))),
        ('"\\u0041${x}\\n"', Interpolation(("A", n("x"), "\n"))),
        (
            '"${(F(x) with retry: 1)}"',
            Interpolation((WithCall(call("F", n("x")), (Option("retry", i(1)),)),)),
        ),
        ('"${ p{id}.id }"', Interpolation((Field(Project(n("p"), (FieldRef("id"),)), "id"),))),
    ],
)
def test_interpolation(text: str, tree: Expr) -> None:
    """`${…}` holds an expression; brackets and nested strings balance, and nest again."""
    assert expr(text) == tree


def test_interpolated_code_has_source_positions() -> None:
    """Names inside `${…}` are at their own line and column of the source."""
    tree = program('in totl: Int\ns = "total: ${totl} and ${ "x${totl}" }"\nout s')
    value = tree.declarations[1]
    assert isinstance(value, Assignment)
    assert isinstance(value.value, Interpolation)
    first, nested = value.value.parts[1], value.value.parts[3]
    assert isinstance(first, Name)
    assert first.span == Span(2, 15, 2, 19)
    assert isinstance(nested, Interpolation)
    assert nested.span == Span(2, 28, 2, 38)
    inner = nested.parts[1]
    assert isinstance(inner, Name)
    assert inner.span == Span(2, 32, 2, 36)


# --------------------------------------------------------------------------- postfix


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a.b.c", Field(Field(n("a"), "b"), "c")),
        ("e.type", Field(n("e"), "type")),
        ("e.in.out", Field(Field(n("e"), "in"), "out")),
        ("e._", Field(n("e"), "_")),
        ("p[a, b]", Project(n("p"), (FieldRef("a"), FieldRef("b")))),
        ("p{a, b}", Project(n("p"), (FieldRef("a"), FieldRef("b")))),
        ("p{a, b,}", Project(n("p"), (FieldRef("a"), FieldRef("b")))),
        ("p[type, match]", Project(n("p"), (FieldRef("type"), FieldRef("match")))),
        ("p{id}.id", Field(Project(n("p"), (FieldRef("id"),)), "id")),
        ("p[a, b].a", Field(Project(n("p"), (FieldRef("a"), FieldRef("b"))), "a")),
        ("f(x).y", Field(call("f", n("x")), "y")),
        ("(a + b).c", Field(b("+", n("a"), n("b")), "c")),
        ("{a: 1}.a", Field(RecordLit((RecordField("a", i(1)),)), "a")),
    ],
)
def test_field_access_and_projection(text: str, tree: Expr) -> None:
    """Postfix operations chain left to right; reserved words may name fields."""
    assert expr(text) == tree


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("f()", call("f")),
        ("f(x)", call("f", n("x"))),
        ("f(1, 2,)", call("f", i(1), i(2))),
        ("ns.path.f(x)", call("ns.path.f", n("x"))),
        ("stdlib.math.max(1, 2)", call("stdlib.math.max", i(1), i(2))),
        ("list-sum(xs)", call("list-sum", n("xs"))),
        ("f(g(h(1)))", call("f", call("g", call("h", i(1))))),
        (
            "map(xs, (x) => x + 1)",
            call("map", n("xs"), Lambda("x", None, b("+", n("x"), i(1)))),
        ),
        (
            "filter(xs, (x: Int) => x > 0,)",
            call("filter", n("xs"), Lambda("x", t("Int"), b(">", n("x"), i(0)))),
        ),
        (
            "all(xs, (x: {a: Int}) => x.a > 0 and x.a < 9)",
            call(
                "all",
                n("xs"),
                Lambda(
                    "x",
                    RecordType((TypeField("a", t("Int")),)),
                    b("and", b(">", Field(n("x"), "a"), i(0)), b("<", Field(n("x"), "a"), i(9))),
                ),
            ),
        ),
        (
            "map(xs, (x) => map(x, (y) => y))",
            call("map", n("xs"), Lambda("x", None, call("map", n("x"), Lambda("y", None, n("y"))))),
        ),
        ("f((x))", call("f", n("x"))),
    ],
)
def test_calls_and_lambdas(text: str, tree: Expr) -> None:
    """Calls, bare or qualified, with trailing commas; lambdas with or without annotation."""
    assert expr(text) == tree


def test_call_spans() -> None:
    """A call spans callee to `)`; its callee span covers the dotted name."""
    value = expr("ns.f(x, y)")
    assert isinstance(value, Call)
    assert value.callee_span == Span(1, 5, 1, 9)
    assert value.span == Span(1, 5, 1, 15)
    lam = expr("map(xs, (item: Int) => item)")
    assert isinstance(lam, Call)
    assert isinstance(lam.args[1], Lambda)
    assert lam.args[1].param_span == Span(1, 14, 1, 18)
    assert lam.args[1].span == Span(1, 13, 1, 32)


def test_field_spans() -> None:
    """A field access knows the place of its name."""
    value = expr("order.type")
    assert isinstance(value, Field)
    assert value.name_span == Span(1, 11, 1, 15)
    assert value.span == Span(1, 5, 1, 15)


# --------------------------------------------------------------------------- conditionals


def test_branch_with_arms_and_trailing_comma() -> None:
    """Branch arms in order, then `otherwise`; a trailing comma is allowed."""
    assert expr("branch { a -> 1, b -> 2, otherwise -> 3, }") == Branch(
        (BranchArm(n("a"), i(1)), BranchArm(n("b"), i(2))), i(3)
    )
    assert expr("branch { otherwise -> 0 }") == Branch((), i(0))


def test_match_with_every_pattern_kind() -> None:
    """Record patterns (reserved fields included), `is` types and the wildcard."""
    value = expr(
        dedent(
            """
            match ev {
              {orderId, amount} -> "order ${orderId}",
              {type,} -> 1,
              is List<String> -> 2,
              is {a: Int} -> 3,
              is Price -> 4,
              _ -> "other",
            }
            """
        )
    )
    assert value == Match(
        n("ev"),
        (
            MatchCase(
                RecordPattern((FieldRef("orderId"), FieldRef("amount"))),
                Interpolation(("order ", n("orderId"))),
            ),
            MatchCase(RecordPattern((FieldRef("type"),)), i(1)),
            MatchCase(IsPattern(TypeApp("List", (t("String"),))), i(2)),
            MatchCase(IsPattern(RecordType((TypeField("a", t("Int")),))), i(3)),
            MatchCase(IsPattern(t("Price")), i(4)),
            MatchCase(Wildcard(), StringLit("other")),
        ),
    )


@pytest.mark.parametrize(
    ("subject", "tree"),
    [
        ("payload", n("payload")),
        ("a.b.c", Field(Field(n("a"), "b"), "c")),
        ("a.type", Field(n("a"), "type")),
        ("Classify(doc)", call("Classify", n("doc"))),
        ("m.f(x, y,)", call("m.f", n("x"), n("y"))),
        ("(a ?? b)", Coalesce(n("a"), n("b"))),
    ],
)
def test_match_subjects(subject: str, tree: Expr) -> None:
    """The subject is a name, a field path, a call of a named function or parenthesized."""
    value = expr(f"match {subject} {{ _ -> 0 }}")
    assert value == Match(tree, (MatchCase(Wildcard(), i(0)),))


def test_match_span_starts_at_the_keyword() -> None:
    """A match's span starts at `match` (E015 for non-exhaustive matches is reported there)."""
    value = expr("1 + (match (a) { _ -> 0 })")
    assert isinstance(value, Binary)
    assert isinstance(value.right, Match)
    assert value.right.span == Span(1, 10, 1, 30)


# --------------------------------------------------------------------------- with options


def test_with_options_durations_rates_and_flags() -> None:
    """Options keep their order; durations become milliseconds; `lazy` alone has no value."""
    value = expr(
        "Summarize(text) with retry: 2, delay: 200ms, backoff: linear, timeout: 10s, "
        "cache: 1min, throttle: 10/1h, concurrency: 4, lazy, priority: high, ttl: 2d"
    )
    assert value == WithCall(
        call("Summarize", n("text")),
        (
            Option("retry", i(2)),
            Option("delay", DurationLit(200, "200ms")),
            Option("backoff", n("linear")),
            Option("timeout", DurationLit(10_000, "10s")),
            Option("cache", DurationLit(60_000, "1min")),
            Option("throttle", b("/", i(10), DurationLit(3_600_000, "1h"))),
            Option("concurrency", i(4)),
            Option("lazy", None),
            Option("priority", n("high")),
            Option("ttl", DurationLit(172_800_000, "2d")),
        ),
    )


def test_parenthesized_with_call_is_a_primary_anywhere() -> None:
    """`(Call with …)` may stand inside lambda bodies, arguments and fallbacks."""
    value = expr("map(docs, (d) => (Classify(d) with cache: 1h, concurrency: 4))")
    assert value == call(
        "map",
        n("docs"),
        Lambda(
            "d",
            None,
            WithCall(
                call("Classify", n("d")),
                (Option("cache", DurationLit(3_600_000, "1h")), Option("concurrency", i(4))),
            ),
        ),
    )
    fallback = expr("F(x) with fallback: (G(x) with retry: 1)")
    assert fallback == WithCall(
        call("F", n("x")),
        (Option("fallback", WithCall(call("G", n("x")), (Option("retry", i(1)),))),),
    )


def test_qualified_call_with_options() -> None:
    """A qualified call may take options too."""
    assert expr("crm.fetch(k) with on_error: wrap") == WithCall(
        call("crm.fetch", n("k")), (Option("on_error", n("wrap")),)
    )


def test_use_spans() -> None:
    """A use declaration knows the span of its path and of its alias."""
    use = program("use billing.v2 as bill\nout x").declarations[0]
    assert isinstance(use, UseDecl)
    assert use.path_span == Span(1, 5, 1, 15)
    assert use.alias_span == Span(1, 19, 1, 23)
    assert use.span == Span(1, 1, 1, 23)


# --------------------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Lexical errors (§1).
        ("0042", (1, 5, "leading zeros are not allowed in '0042'")),
        ("00.5", (1, 5, "leading zeros are not allowed in '00.5'")),
        ("9223372036854775808", (1, 5, "integer '9223372036854775808' is out of range")),
        ("1e999", (1, 5, "float '1e999' is out of range")),
        ("3x", (1, 5, "invalid number '3x'")),
        ("5sec", (1, 5, "invalid number '5sec'")),
        ("1.5s", (1, 5, "invalid number '1.5s'")),
        ('"a\\eb"', (1, 7, "unknown escape '\\e'")),
        ('"\\x41"', (1, 6, "unknown escape '\\x'")),
        ('"\\u12"', (1, 6, "invalid unicode escape '\\u12'")),
        ('"\\ud800"', (1, 6, "invalid unicode escape '\\ud800': surrogates are not characters")),
        (
            '"\\u{110000}"',
            (1, 6, "invalid unicode escape '\\u{110000}': the largest code point is 10FFFF"),
        ),
        ('"abc', (1, 5, "unterminated string")),
        ('"a ${ f(x', (1, 5, "unterminated string")),
        ('"${ "abc }', (1, 9, "unterminated string")),
        ('"${}"', (1, 6, "empty interpolation '${}'")),
        ('"${ a # b }"', (1, 11, "'#' is not allowed inside an interpolation")),
        ('"bell\x07"', (1, 10, "control character U+0007 is not allowed")),
        ("a ; b", (1, 7, "unexpected character ';'")),
        ("a & b", (1, 7, "unexpected character '&'")),
        ("a && b", (1, 7, "unexpected character '&&'")),
        ("!a", (1, 5, "unexpected character '!'")),
        ("a ? b", (1, 7, "unexpected character '?'")),
        ("$a", (1, 5, "unexpected character '$'")),
        ("café", (1, 8, "unexpected character 'é'")),
        ("'a'", (1, 5, 'unexpected character "\'"')),
        # Durations outside option values (§1.5).
        ("3s", (1, 5, "a duration is only allowed as a with-option value")),
        ("1 + 200ms", (1, 9, "a duration is only allowed as a with-option value")),
        ("10/1s", (1, 8, "a duration is only allowed as a with-option value")),
        ("f(2h)", (1, 7, "a duration is only allowed as a with-option value")),
        ("F(x) with fallback: 1s", (1, 25, "a duration is only allowed as a with-option value")),
        ('"${1d}"', (1, 8, "a duration is only allowed as a with-option value")),
        ("F(x) with retry: [1s]", (1, 23, "a duration is only allowed as a with-option value")),
        # What the grammar leaves to the callbacks (A.1).
        ("total with retry: 2", (1, 11, "'with' can only follow a call")),
        ("r.x with retry: 2", (1, 9, "'with' can only follow a call")),
        ("f(x) + 1 with retry: 2", (1, 14, "unexpected 'with'")),
        ("map(xs, (a + 1) => a)", (1, 14, "a lambda parameter must be a name")),
        ("map(xs, ((a)) => a)", (1, 14, "a lambda parameter must be a name")),
        ("f(1)(2)", (1, 9, "only a function can be called, by its name")),
        ("(f)(2)", (1, 8, "only a function can be called, by its name")),
        ("a.type(2)", (1, 7, "'type' is a reserved word and cannot name a function or namespace")),
        # Grammar errors (§4.1, §4.8, §4.12, §1.7).
        ("0 < x < 9", (1, 11, "unexpected '<': comparisons do not chain")),
        ("a == b == c", (1, 12, "unexpected '==': comparisons do not chain")),
        ("a when b when c", (1, 14, "unexpected 'when': 'when' does not chain")),
        (
            "x + if (c) 1 else 2",
            (1, 9, "unexpected 'if': an if expression must be parenthesized here"),
        ),
        ("(a) => a", (1, 9, "unexpected '=>': a lambda can only be a call argument")),
        ("map(xs, (a, b) => a)", (1, 15, "unexpected ',', expected ')' or ':'")),
        ("branch { a -> 1 }", (1, 21, "unexpected '}', expected ','")),
        ("branch { a -> 1, }", (1, 22, "unexpected '}', expected an expression or 'otherwise'")),
        ("branch { otherwise -> 1, a -> 2 }", (1, 30, "unexpected 'a', expected '}'")),
        ("f(a,, b)", (1, 9, "unexpected ',', expected an expression or ')'")),
        ("[1 2]", (1, 8, "unexpected '2', expected ',' or ']'")),
        ("{a: 1, b 2}", (1, 14, "unexpected '2', expected ':'")),
        ("match x { }", (1, 15, "unexpected '}', expected '_', '{' or 'is'")),
        ("p[]", (1, 7, "unexpected ']', expected a field name")),
        ('"${a +}"', (1, 11, "unexpected '}', expected an expression")),
        ('"${a b}"', (1, 10, "unexpected 'b', expected '}'")),
        ('"${F(x) with retry: 1}"', (1, 13, "unexpected 'with', expected '}'")),
        ("a b", (1, 7, "unexpected 'b'")),
        ("_", (1, 5, "unexpected '_', expected an expression")),
    ],
)
def test_syntax_errors_in_expressions(text: str, expected: tuple[int, int, str]) -> None:
    """Each mistake gives one E020 with its exact text, at its exact place."""
    assert error(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = 1\n", [(1, 1, "the program declares no output")]),
        ("", [(1, 1, "the program declares no output")]),
        ("# only a comment\n", [(1, 1, "the program declares no output")]),
        (
            "in order: {total: Int}\nout order.total\n",
            [(2, 10, "unexpected '.': 'out' takes a name")],
        ),
        ("out f(x)\n", [(1, 6, "unexpected '(': 'out' takes a name")]),
        ("out 1\n", [(1, 5, "unexpected '1', expected a name")]),
        ("in when: Boolean\nout x\n", [(1, 4, "unexpected 'when', expected a name")]),
        ("is = 1\nout x\n", [(1, 1, "unexpected 'is'")]),
        ("x = if (c) 1\nout x\n", [(2, 1, "unexpected 'out', expected 'else'")]),
        ("x = (1 +\nout x\n", [(2, 1, "unexpected 'out', expected an expression")]),
        (
            "x = f(\n\n",
            [
                (1, 1, "the program declares no output"),
                (1, 7, "unexpected end of input, expected an expression or ')'"),
            ],
        ),
        (
            "out x\nx = [1,  \n  # trailing\n",
            [(2, 8, "unexpected end of input, expected an expression or ']'")],
        ),
        ("@foo(1) in x: Int\nout x\n", [(1, 1, "unknown annotation '@foo'")]),
        ("@source(1) in x: Int\nout x\n", [(1, 1, "unknown annotation '@source'")]),
        ('@doc("x")\nout x\n', [(2, 1, "unexpected 'out', expected '@' or 'in'")]),
        ('x = @doc("x") 1\nout x\n', [(1, 5, "unexpected '@', expected an expression")]),
        ("in x: List<Int,>\nout x\n", [(1, 16, "unexpected '>', expected a type")]),
        ("in x: Int |\nout x\n", [(2, 1, "unexpected 'out', expected a type")]),
        ("in x: List<Int\nout x\n", [(2, 1, "unexpected 'out', expected ',' or '>'")]),
        ("x = F(a) with retry: 2,\nout x\n", [(2, 1, "unexpected 'out', expected a name")]),
        ("use a.\nout x\n", [(2, 1, "unexpected 'out', expected a name")]),
        ("use a.b as\nout x\n", [(2, 1, "unexpected 'out', expected a name")]),
        ("type = 1\nout x\n", [(1, 6, "unexpected '=', expected a name")]),
        ("x = 1\n)\nout x\n", [(2, 1, "unexpected ')'")]),
        ("\x01x = 1\nout x", [(1, 1, "control character U+0001 is not allowed")]),
        ("x = 1\rout x", [(1, 6, "control character U+000D is not allowed")]),
    ],
)
def test_syntax_errors_in_programs(text: str, expected: list[tuple[int, int, str]]) -> None:
    """Declaration-level mistakes, with exact texts and places (sorted by position)."""
    assert errors(text) == expected


def test_hints_say_what_to_do() -> None:
    """Syntax errors carry a hint where one helps."""
    hints = {
        "x = 0 < y < 9\nout x": "combine comparisons with 'and', as in 'a < x and x < b'",
        "out order.total": (
            "assign the expression to a name first ('total = order.total'), then 'out total'"
        ),
        "in when: Boolean\nout when": "'when' is a reserved word and cannot be used as a name",
        "x = branch { a -> 1 }\nout x": "a branch ends with an 'otherwise -> value' arm",
        "x = branch { otherwise -> 1, a -> 2 }\nout x": (
            "'otherwise' must be the last arm of a branch"
        ),
        "x = F(a) with retry: 2,\nout x": "'with' options take no trailing comma",
        "x = 1 + if (c) 1 else 2\nout x": "write '(if (c) a else b)'",
        '@doc("x")\nout x': "annotations stand before an input: '@doc(\"…\") in name: Type'",
        "x = a || b\nout x": "use 'or' for a logical or",
        "b = a +\nc = 1\nout c": (
            "the declaration before 'c' is incomplete, so it was read as part of it"
        ),
        "x = map(xs, (a, b) => a)\nout x": "a lambda takes exactly one parameter",
        "x = 'a'\nout x": "strings are written in double quotes",
        "x = 5sec\nout x": (
            "put a space between a number and a name; durations are written like "
            "200ms, 3s, 1min, 2h or 1d"
        ),
    }
    for text, hint in hints.items():
        found = diagnostics(text)
        assert [d.hint for d in found] == [hint], text


def test_end_of_input_is_reported_just_after_the_last_character() -> None:
    """At end of input the error points just after the last character, blanks aside."""
    found = diagnostics("out x\nx = 1 +   \n\n")
    assert [(d.line, d.column, d.end_line, d.end_column) for d in found] == [(2, 8, 2, 9)]


def test_several_syntax_errors_are_reported_at_once() -> None:
    """The parser resynchronizes at the next declaration and reports every error, in order."""
    text = dedent(
        """
        in a: Int
        b = a +
        c = (a
        d = "${a +}" + 3x
        type T = {x: Int,
        e = a + 1
        @bad(1) in f: Int
        g = a ; h = 1
        out e
        out e.x
        """
    )
    assert errors(text) == [
        (3, 3, "unexpected '='"),
        (4, 1, "unexpected 'd', expected ')'"),
        (4, 11, "unexpected '}', expected an expression"),
        (4, 16, "invalid number '3x'"),
        (6, 3, "unexpected '=', expected ':'"),
        (7, 1, "unknown annotation '@bad'"),
        (8, 7, "unexpected character ';'"),
        (10, 6, "unexpected '.': 'out' takes a name"),
    ]


def test_a_lexical_error_costs_one_diagnostic() -> None:
    """A bad character or number does not cause a second, parser error."""
    assert errors("x = a ; b\ny = 0042 + 1\nout x\n") == [
        (1, 7, "unexpected character ';'"),
        (2, 5, "leading zeros are not allowed in '0042'"),
    ]


def test_reserved_words_are_never_names() -> None:
    """Each reserved word is rejected as an input, variable, parameter, type or namespace."""
    reserved = (
        "and as branch else false if in is match not or otherwise out true type use when with _"
    )
    for word in reserved.split():
        assert diagnostics(f"in {word}: Int\nout x"), word
        assert diagnostics(f"type {word} = Int\nout x"), word
        assert diagnostics(f"x = map(xs, ({word}) => 1)\nout x"), word
        assert diagnostics(f"use {word}.x\nout x"), word
        assert diagnostics(f"out {word}"), word


def test_the_grammar_reserves_exactly_the_reserved_words() -> None:
    """The grammar's keywords, which the lexer reserves, are syntax.RESERVED_WORDS (§1.4)."""
    grammar = Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), parser="lalr", lexer="basic")
    assert set(Vocabulary.from_terminals(grammar.terminals).keywords) == RESERVED_WORDS


def test_trailing_commas_only_where_allowed() -> None:
    """Trailing commas: yes in lists of §1.7; no in type arguments, options or use paths."""
    program(
        "in r: {a: Int,}\nx = f(1,)\ny = [1,]\nz = {a: 1,}\np = r{a,}\nq = r[a,]\n"
        "m = match r { {a,} -> 1, }\nk = branch { otherwise -> 1, }\nout x"
    )
    assert diagnostics("in x: Map<String, Int,>\nout x")
    assert diagnostics("x = F(1) with retry: 1,\nout x")
    assert diagnostics("use a.b.\nout x")


def test_sample_programs_with_syntax_errors() -> None:
    """Each invalid sample names its expected errors in `# expect:` lines."""
    for path in sorted((PROGRAMS / "invalid").glob("syntax-*.cst")):
        text = path.read_text(encoding="utf-8")
        expected = [
            line.removeprefix("# expect: ")
            for line in text.splitlines()
            if line.startswith("# expect: ")
        ]
        found = [f"{d.line}:{d.column} {d.message}" for d in diagnostics(text)]
        assert found == expected, path.name


# --------------------------------------------------------------------------- limits


def test_source_size_limit() -> None:
    """Sources up to the byte limit parse; one byte more is E040 at 1:1, alone."""
    text = "out x\nx = 1 # é\n"
    size = len(text.encode("utf-8"))
    tree, _ = parse(Source(text), Limits(max_source_bytes=size))
    assert tree is not None
    found = diagnostics(text + "\n", Limits(max_source_bytes=size))
    assert [(d.code, d.line, d.column, d.message) for d in found] == [
        ("E040", 1, 1, f"the source exceeds the size limit of {size} bytes")
    ]
    found = diagnostics("x = é", Limits(max_source_bytes=5))
    assert [d.code for d in found] == ["E040"]


def test_a_lone_surrogate_is_a_diagnostic_not_a_crash() -> None:
    """Text that cannot be UTF-8 (a lone surrogate, possible in a Python str) is E020 where
    it stands, before anything tries to encode or hash it."""
    found = diagnostics('in a: String\nx = "ok \udc80"\nout x')
    assert [(d.code, d.line, d.column, d.message) for d in found] == [
        ("E020", 2, 9, "the source contains U+DC80, a lone surrogate, which is not valid Unicode")
    ]


@pytest.mark.parametrize(("open_", "close"), [("(", ")"), ("[", "]"), ("{a: ", "}")])
def test_nesting_at_the_limit_parses_and_one_more_is_E040(open_: str, close: str) -> None:
    """Depth 256 is accepted; 257 is E040 at the token opening the outermost level."""
    at_limit = "x = " + open_ * 255 + "1" + close * 255 + "\nout x"
    program(at_limit)
    over = "x = " + open_ * 256 + "1" + close * 256 + "\nout x"
    found = diagnostics(over)
    assert [(d.code, d.line, d.column, d.message) for d in found] == [
        ("E040", 1, 5, "nesting depth exceeds the limit of 256")
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda k: "1" + " + 1" * k,
        lambda k: "f(" * k + "1" + ")" * k,
        lambda k: "-" * k + "1",
        lambda k: "a" + ".b" * k,
        lambda k: "not " * k + "a",
        lambda k: "if (c) " * k + "1" + " else 2" * k,
        lambda k: "a ?? " * k + "b",
        lambda k: '"${' * k + "1" + '}"' * k,
    ],
)
def test_every_kind_of_nesting_counts(build: Callable[[int], str]) -> None:
    """Operators, calls, fields, guards and interpolations each add a level (§11)."""
    program(f"x = {build(255)}\nout x")
    found = diagnostics(f"x = {build(256)}\nout x")
    assert [(d.code, d.line, d.column) for d in found] == [("E040", 1, 5)]


def test_type_nesting_is_limited_too() -> None:
    """Type expressions have a depth as well."""
    program("in x: " + "List<" * 255 + "Int" + ">" * 255 + "\nout x")
    found = diagnostics("in x: " + "List<" * 256 + "Int" + ">" * 256 + "\nout x")
    assert [(d.code, d.line, d.column) for d in found] == [("E040", 1, 7)]


def test_a_small_depth_limit_is_honoured() -> None:
    """The limit is configurable: with 3, `((1))` passes and `(((1)))` does not."""
    limits = Limits(max_nesting_depth=3)
    assert parse(Source("x = ((1))\nout x"), limits)[0] is not None
    found = diagnostics("in y: Int\nx = (((1)))\nout x", limits)
    assert [(d.code, d.line, d.column) for d in found] == [("E040", 2, 5)]


_DEEP_IDS = [
    "parens",
    "brackets",
    "open-parens",
    "open-brackets",
    "strings",
    "minus",
    "sum",
    "types",
]


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "(" * 100_000 + "1" + ")" * 100_000 + "\nout x",
        "x = " + "[" * 100_000 + "1" + "]" * 100_000 + "\nout x",
        "x = " + "(" * 100_000,
        "x = " + "[" * 100_000 + "\nout x",
        "x = " + '"${' * 100_000 + "1" + '}"' * 100_000 + "\nout x",
        "x = " + "-" * 100_000 + "1\nout x",
        "x = 1" + " + 1" * 100_000 + "\nout x",
        "in x: " + "List<" * 100_000 + "Int" + ">" * 100_000 + "\nout x",
    ],
    ids=_DEEP_IDS,
)
def test_very_deep_nesting_is_E040_quickly(text: str) -> None:
    """100 000 levels end in E040 alone: no RecursionError, no hang."""
    started = time.perf_counter()
    found = diagnostics(text)
    assert time.perf_counter() - started < 10
    assert [(d.code, d.message) for d in found] == [
        ("E040", "nesting depth exceeds the limit of 256")
    ]


def test_declaration_limit() -> None:
    """At the limit the program parses; one more is E040 at the first declaration beyond."""
    limits = Limits(max_declarations=3)
    assert parse(Source("a = 1\nb = 2\nout a"), limits)[0] is not None
    found = diagnostics("a = 1\nb = 2\nout a\n  out b", limits)
    assert [(d.code, d.line, d.column, d.message) for d in found] == [
        ("E040", 4, 3, "the number of declarations exceeds the limit of 3")
    ]


def test_E040_is_the_only_diagnostic() -> None:
    """An exceeded limit drops every syntax error found before it."""
    text = "x = ;\n" + "y = " + "(" * 300 + "1" + ")" * 300 + "\nout y"
    assert [d.code for d in diagnostics(text)] == ["E040"]


# --------------------------------------------------------------------------- robustness


def test_parses_are_independent_across_threads() -> None:
    """Concurrent parses keep their own state (diagnostics, strings, counts)."""
    good = 'x = "a ${b}"\nout x'
    bad = "x = 1 +\nout x"
    results: list[bool] = []

    def work(text: str, ok: bool) -> None:
        for _ in range(200):
            tree, found = parse(Source(text))
            results.append((tree is not None) == ok and (not found) == ok)

    threads = [
        threading.Thread(target=work, args=(good if k % 2 else bad, k % 2 == 1)) for k in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 800
    assert all(results)


def _check_outcome(text: str) -> None:
    """parse never raises; it gives a Program, or E020/E040 diagnostics with real positions."""
    tree, found = parse(Source(text))
    lines = text.count("\n") + 2
    if tree is not None:
        assert found == ()
        assert any(isinstance(d, OutputDecl) for d in tree.declarations)
        for declaration in tree.declarations:
            assert 1 <= declaration.span.line <= declaration.span.end_line < lines
        return
    assert found
    for d in found:
        assert d.code in ("E020", "E040")
        assert d.severity == "error"
        assert (d.message and d.message[0].islower()) or d.message[0] in "'@"
        assert 1 <= d.line <= lines
        assert d.column >= 1
        assert (d.end_line, d.end_column) >= (d.line, d.column)
    assert list(found) == sorted(found, key=lambda d: (d.line, d.column))




@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(_GRAMMAR)
def test_programs_from_the_grammar_parse_or_fail_cleanly(text: str) -> None:
    """Programs and expressions generated from grammar.lark never make parse raise."""
    _check_outcome(text)


@pytest.mark.long
@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(_GRAMMAR)
def test_programs_from_the_grammar_parse_or_fail_cleanly_long(text: str) -> None:
    """The same property, with many more examples."""
    _check_outcome(text)





@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_token_soup_fails_cleanly(text: str) -> None:
    """Random sequences of tokens and fragments never make parse raise."""
    _check_outcome(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_random_text_fails_cleanly(text: str) -> None:
    """Arbitrary text never makes parse raise."""
    _check_outcome(text)


_SAMPLE = (PROGRAMS / "valid" / "pricing.cst").read_text(encoding="utf-8")


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, len(_SAMPLE) - 1),
    st.integers(1, 8),
    st.sampled_from(["", " ", "(", '"', "}", "x", "\n"]),
)
def test_mutated_programs_fail_cleanly(at: int, width: int, insert: str) -> None:
    """A valid program with a slice replaced never makes parse raise."""
    _check_outcome(_SAMPLE[:at] + insert + _SAMPLE[at + width :])


@pytest.mark.long
@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=200) | st.lists(_PIECES, max_size=120).map("".join))
def test_random_text_fails_cleanly_long(text: str) -> None:
    """Arbitrary text and token soup, many more examples."""
    _check_outcome(text)
