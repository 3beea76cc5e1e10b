"""The checker: every diagnostic with its code, place, message and hint (language.md §10)."""

from __future__ import annotations

import pytest

from constellation import types as ty
from constellation.frontend import analyse
from constellation.limits import DEFAULT_LIMITS
from constellation.modules import Registry
from constellation.source import Source
from tests.conftest import dedent, make_registry

REGISTRY = make_registry()


def diagnostics(
    text: str, registry: Registry = REGISTRY
) -> list[tuple[str, int, int, str, str | None]]:
    analysis = analyse(Source(dedent(text)), registry, DEFAULT_LIMITS)
    return [(d.code, d.line, d.column, d.message, d.hint) for d in analysis.diagnostics]


def errors(text: str, registry: Registry = REGISTRY) -> list[tuple[str, int, int, str, str | None]]:
    return [d for d in diagnostics(text, registry) if d[0].startswith("E")]


def value_type(text: str, name: str) -> str:
    analysis = analyse(Source(dedent(text)), REGISTRY, DEFAULT_LIMITS)
    assert analysis.ok, analysis.diagnostics
    assert analysis.checked is not None
    return ty.show(analysis.checked.value_types[name])


def test_a_correct_program_has_no_diagnostics() -> None:
    """The spec's opening example, with its module, checks cleanly."""
    src = """
        type Line = {sku: String, qty: Int, price: Float}
        @doc("Order lines as sent by the shop")
        in lines: List<Line>
        in customer: {id: String, tier: String}
        in threshold: Float = 500.0
        subtotal = list-sum(map(lines, (l) => l.qty * l.price))
        vip      = customer.tier == "gold"
        discount = 0.1 * subtotal when vip
        total    = subtotal - (discount ?? 0.0)
        profile  = FetchProfile(customer.id) with retry: 2, timeout: 3s, fallback: {score: 0}
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
    assert diagnostics(src) == []
    assert value_type(src, "discount") == "Optional<Float>"
    assert value_type(src, "review") == "String"


def test_several_mistakes_are_all_reported_in_order() -> None:
    """One diagnostic per mistake, sorted by position, each with a hint where one helps."""
    src = """
        in text: String
        in count: Int
        shout = lowrcase(text)
        total = count + cnt
        label = "${totl}"
        out shout
        out total
        out label
    """
    assert errors(src) == [
        ("E002", 3, 9, "undefined function 'lowrcase'", "did you mean 'lowercase'?"),
        ("E001", 4, 17, "undefined variable 'cnt'", None),
        ("E001", 5, 12, "undefined variable 'totl'", "did you mean 'total'?"),
    ]


def test_an_error_type_does_not_cascade() -> None:
    """`cost = price + taxx` gives one E001, and dependants stay quiet."""
    src = """
        in price: Int
        cost = price + taxx
        double = cost * 2
        shout = Uppercase(cost)
        out shout
        out double
    """
    assert errors(src) == [("E001", 2, 16, "undefined variable 'taxx'", None)]


def test_hyphenated_name_hint_suggests_subtraction() -> None:
    """An undefined `a-b` whose parts are names gets the subtraction hint (§10.4)."""
    src = """
        in price: Int
        in tax: Int
        net = price-tax
        out net
    """
    assert errors(src) == [
        ("E001", 3, 7, "undefined variable 'price-tax'", "write 'price - tax' to subtract")
    ]


def test_undefined_output() -> None:
    """`out y` for an undeclared y is E001 at the y."""
    assert errors("in x: Int\nout x\nout y\n") == [
        ("E001", 3, 5, "undefined variable 'y'", "did you mean 'x'?")
    ]


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        (
            "in a: Int\nin a: String\nout a\n",
            ("E030", 2, 4, "'a' is already defined at line 1", None),
        ),
        (
            "in a: Int\na = 2\nout a\n",
            ("E030", 2, 1, "'a' is already defined at line 1", None),
        ),
        (
            "in a: Int\nout a\nout a\n",
            ("E030", 3, 5, "output 'a' is already declared at line 2", None),
        ),
        (
            "type Int = String\nin a: Int\nout a\n",
            (
                "E030",
                1,
                6,
                "'Int' is a built-in type and cannot be redefined",
                "choose another name for the alias",
            ),
        ),
        (
            "in r: {a: Int, a: String}\nout r\n",
            ("E030", 1, 16, "field 'a' is already defined at line 1", None),
        ),
        (
            "x = {a: 1, a: 2}\nout x\n",
            ("E030", 1, 12, "field 'a' is already defined at line 1", None),
        ),
    ],
)
def test_duplicates(src: str, expected: tuple[str, int, int, str, str | None]) -> None:
    """E030 at the later definition."""
    assert errors(src) == [expected]


def test_cycles_are_reported_once_at_the_first_declaration() -> None:
    """E031 lists the cycle; names in it get no E001 and dependants no cascade."""
    src = """
        y = x + 1
        x = y * 2
        z = x
        n = n * 2
        out z
        out n
    """
    assert errors(src) == [
        ("E031", 1, 1, "dependency cycle: y → x → y", None),
        ("E031", 4, 1, "dependency cycle: n → n", None),
    ]


def test_alias_cycle() -> None:
    """Alias cycles are E031 too."""
    src = "type A = List<B>\ntype B = {a: A}\nin x: A\nout x\n"
    assert errors(src) == [("E031", 1, 6, "dependency cycle: A → B → A", None)]


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("in a: Adress\nout a\n", ("E003", 1, 7, "undefined type 'Adress'", None)),
        (
            "type Address = {city: String}\nin a: Adress\nout a\n",
            ("E003", 2, 7, "undefined type 'Adress'", "did you mean 'Address'?"),
        ),
        ("in a: List\nout a\n", ("E015", 1, 7, "'List' needs type arguments: List<T>", None)),
        ("in a: Int<String>\nout a\n", ("E015", 1, 7, "'Int' takes no type arguments", None)),
        ("in a: Map<String>\nout a\n", ("E015", 1, 7, "'Map' takes 2 type arguments, got 1", None)),
        (
            "in a: Map<Float, Int>\nout a\n",
            ("E015", 1, 11, "map keys must be String or Int, got Float", None),
        ),
        (
            "in a: {x: Int} + Int\nout a\n",
            (
                "E012",
                1,
                7,
                "cannot merge { x: Int } and Int: '+' in types merges record types",
                None,
            ),
        ),
    ],
)
def test_type_expression_errors(src: str, expected: tuple[str, int, int, str, str | None]) -> None:
    """Type expressions: E003, E015, E012."""
    assert errors(src) == [expected]


def test_type_merge_and_alias_expansion() -> None:
    """`A + B` merges record types; aliases are expanded everywhere."""
    src = """
        type Base = {id: Int, name: String}
        type Extra = {name: Int, tags: List<String>}
        in x: Base + Extra
        out x
    """
    assert value_type(src, "x") == "{ id: Int, name: Int, tags: List<String> }"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2", "Int"),
        ("1 + 2.0", "Float"),
        ("7 / 2", "Int"),
        ("if (true) 3 else 0.5", "Float"),
        ("[2, 0.5]", "List<Float>"),
        ("[]", "List<Nothing>"),
        ('if (true) {ok: 1} else {err: "x"}', "{ ok: Int } | { err: String }"),
        ("{a: 1} + {b: true}", "{ a: Int, b: Boolean }"),
        ("[{a: 1}] + {b: 2}", "List<{ a: Int, b: Int }>"),
        ("{a: 1} + [{b: 2}]", "List<{ a: Int, b: Int }>"),
        ("[{a: 1}] + [{a: 2.5}]", "List<{ a: Float }>"),
        ('{a: 1, b: "x"}[a]', "{ a: Int }"),
        ('{a: 1, b: "x"}{b, a}', "{ b: String, a: Int }"),
        ("[{a: {c: 1}}].a.c", "List<Int>"),
        ("1 when true", "Optional<Int>"),
        ("(1 when true) ?? 2.5", "Float"),
        ("(1 when true) ?? (2 when false)", "Optional<Int>"),
        ("(1 when true) when true", "Optional<Int>"),
        ("branch { false -> 1, true -> 2.5, otherwise -> 3 }", "Float"),
        ('not true or 1 < 2 and "a" <= "b"', "Boolean"),
        ("1 == 1.0", "Boolean"),
        ('"n: ${1 + 1}"', "String"),
        ("map([1, 2], (x) => x * 0.5)", "List<Float>"),
        ("filter([1, 2], (x) => x > 1)", "List<Int>"),
        ("all([1, 2], (x: Float) => x > 1.5)", "Boolean"),
        ("map([[1]], (xs) => map(xs, (x) => x + 1))", "List<List<Int>>"),
        ("max(1, 2)", "Int"),
        ("max(1, 2.5)", "Float"),
        ("list-sum([])", "Int"),
        ("list-sum([1.5])", "Float"),
        ('list-first(["a"])', "String"),
        ("list-get([1], 0)", "Optional<Int>"),
        ("list-concat([1], [2.5])", "List<Float>"),
        ('list-concat([], ["a"])', "List<String>"),
        ("round(2.5)", "Int"),
        ("to-string([1])", "String"),
        ("eq(1, 2.0)", "Boolean"),
        ("stdlib.math.max(1, 2)", "Int"),
        ("stdlib.max(1, 2)", "Int"),
        ('Uppercase("a")', "String"),
        ('FetchProfile("a").score', "Int"),
        (
            'FetchProfile("a") with on_error: wrap',
            "{ ok: Boolean, value: Optional<{ score: Int }>, error: Optional<String> }",
        ),
    ],
)
def test_expression_types(expr: str, expected: str) -> None:
    """Inferred types of expressions (§4, §9)."""
    assert value_type(f"x = {expr}\nout x\n", "x") == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('1 + "a"', ("E014", 1, 5, "cannot apply '+' to Int and String", None)),
        (
            '"a" + "b"',
            (
                "E014",
                1,
                5,
                "cannot apply '+' to String and String",
                'use interpolation "${a}${b}" or concat(a, b)',
            ),
        ),
        (
            "[1] + [2]",
            ("E014", 1, 5, "cannot apply '+' to List<Int> and List<Int>", "use list-concat(a, b)"),
        ),
        (
            "(1 when true) + 1",
            (
                "E014",
                1,
                5,
                "cannot apply '+' to Optional<Int> and Int",
                "unwrap the Optional with ?? first, e.g. 'x ?? 0'",
            ),
        ),
        ('-"a"', ("E014", 1, 5, "cannot apply unary '-' to String", None)),
        (
            "{a: 1} + 1",
            (
                "E012",
                1,
                5,
                "cannot merge { a: Int } and Int: '+' merges records and lists of records",
                None,
            ),
        ),
        (
            "true < false",
            (
                "E013",
                1,
                5,
                "cannot compare Boolean < Boolean: ordering needs numbers or strings",
                None,
            ),
        ),
        ('1 == "a"', ("E013", 1, 5, "cannot compare Int == String: the types are unrelated", None)),
        ("1 and true", ("E010", 1, 5, "operand of 'and': expected Boolean, got Int", None)),
        ("not 1", ("E010", 1, 9, "operand of 'not': expected Boolean, got Int", None)),
        ("if (1) 2 else 3", ("E010", 1, 9, "condition of if: expected Boolean, got Int", None)),
        (
            'if (true) 1 else "x"',
            ("E010", 1, 22, "else branch of if: expected Int, got String", None),
        ),
        ('[1, "a"]', ("E010", 1, 9, "list element: expected Int, got String", None)),
        ("1 when 2", ("E010", 1, 12, "condition of when: expected Boolean, got Int", None)),
        ("1 ?? 0", ("E015", 1, 5, "left side of ?? must be Optional, got Int", "remove the '??'")),
        (
            '(1 when true) ?? "s"',
            ("E010", 1, 22, "right side of ??: expected Int, got String", None),
        ),
        (
            "branch { 1 -> 2, otherwise -> 3 }",
            ("E010", 1, 14, "condition of branch: expected Boolean, got Int", None),
        ),
        (
            'branch { true -> 2, otherwise -> "x" }',
            ("E010", 1, 38, "otherwise arm of branch: expected Int, got String", None),
        ),
        ("{a: 1}.b", ("E007", 1, 12, "no field 'b' in { a: Int }", "did you mean 'a'?")),
        ("{zip: 1}.zipcode", ("E007", 1, 14, "no field 'zipcode' in { zip: Int }", "available fields: zip")),
        (
            "{city: 1, zip: 2}.zipp",
            ("E007", 1, 23, "no field 'zipp' in { city: Int, zip: Int }", "did you mean 'zip'?"),
        ),
        (
            "(1 when true).a",
            (
                "E015",
                1,
                19,
                "cannot access field 'a' of an Optional value (Optional<Int>)",
                "unwrap it with ?? first",
            ),
        ),
        (
            "{id: 1, email: 2}[emal]",
            ("E006", 1, 23, "no field 'emal' in { id: Int, email: Int }", "did you mean 'email'?"),
        ),
        ("{a: 1}[a, a]", ("E006", 1, 15, "field 'a' is projected twice", None)),
        ("1.a", ("E007", 1, 7, "no field 'a' in Int", None)),
    ],
)
def test_expression_errors(expr: str, expected: tuple[str, int, int, str, str | None]) -> None:
    """Type errors of expressions, exactly (message, place, hint)."""
    assert errors(f"x = {expr}\nout x\n") == [expected]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            'lowrcase("a")',
            ("E002", 1, 5, "undefined function 'lowrcase'", "did you mean 'lowercase'?"),
        ),
        (
            'stdlib.string.reverse("a")',
            ("E002", 1, 5, "undefined function 'stdlib.string.reverse'", None),
        ),
        (
            "billing.v3.total(1.0)",
            ("E004", 1, 5, "undefined namespace 'billing.v3'", "did you mean 'billing.v2'?"),
        ),
        ('fetch("k")', ("E002", 1, 5, "undefined function 'fetch'", None)),
        ("Resize(1, 2, 3)", ("E015", 1, 5, "Resize takes 2 arguments, got 3", None)),
        (
            'Resize("a", 2)',
            ("E010", 1, 12, "argument 1 ('width') of Resize: expected Int, got String", None),
        ),
        (
            "Uppercase((x) => x)",
            ("E015", 1, 15, "a lambda can only be passed to map, filter, all or any", None),
        ),
        (
            'max(1, "a")',
            ("E010", 1, 12, "argument 2 ('b') of max: expected Int or Float, got String", None),
        ),
        (
            "map(1, (x) => x)",
            ("E010", 1, 9, "argument 1 ('xs') of map: expected a List, got Int", None),
        ),
        (
            "filter([1], (x) => x)",
            ("E010", 1, 24, "body of the lambda passed to filter: expected Boolean, got Int", None),
        ),
        (
            "map([1], (x: String) => x)",
            (
                "E010",
                1,
                18,
                "parameter 'x' of the lambda: the list's elements are Int, not String",
                None,
            ),
        ),
        ("map([1], 2)", ("E015", 1, 14, "argument 2 of map must be a lambda, e.g. (x) => …", None)),
        (
            'eq(1, "a")',
            ("E013", 1, 5, "cannot compare Int and String with eq: the types are unrelated", None),
        ),
        (
            "lt(true, false)",
            (
                "E013",
                1,
                5,
                "cannot compare Boolean and Boolean with lt: ordering needs numbers or strings",
                None,
            ),
        ),
    ],
)
def test_call_errors(expr: str, expected: tuple[str, int, int, str, str | None]) -> None:
    """Calls: resolution (E002, E004, E005), arity (E015), arguments (E010)."""
    assert errors(f"x = {expr}\nout x\n") == [expected]


def test_ambiguous_import() -> None:
    """Two imported namespaces offering different functions of one name: E005 at the callee."""
    src = 'use crm\nuse erp\nx = fetch("k")\nout x\n'
    assert errors(src) == [
        ("E005", 3, 5, "'fetch' is defined in 'crm' and 'erp'", "call it by its qualified name")
    ]


def test_use_imports_and_shorthands() -> None:
    """`use` brings functions by bare name and a shorthand; the same function twice is fine."""
    src = """
        use crm
        use billing.v2 as b
        use stdlib
        use stdlib.math
        a = fetch("k")
        c = b.total(2.0)
        d = max(1, 2)
        e = math.min(1, 2)
        out a
        out c
        out d
        out e
    """
    assert diagnostics(src) == []


def test_use_of_unknown_namespace_and_value_as_namespace() -> None:
    """E004 for `use` of nothing, and for calling through a value name."""
    src = "in order: {a: Int}\nuse billing.v9\nx = order.f(1)\nout x\n"
    assert errors(src) == [
        ("E004", 2, 5, "undefined namespace 'billing.v9'", "did you mean 'billing.v2'?"),
        (
            "E004",
            3,
            5,
            "undefined namespace 'order'",
            "'order' is a value; values cannot be called",
        ),
    ]


def test_match_on_union_of_records() -> None:
    """Record patterns bind fields with their types; `is` narrows; the match has the lub type."""
    src = """
        type Event = {orderId: String, amount: Float} | {refundId: String} | {note: String}
        in ev: Event
        in payload: List<String> | String
        text = match ev {
          {orderId, amount} -> "order ${orderId}: ${amount}",
          {refundId}        -> "refund ${refundId}",
          _                 -> "other",
        }
        size = match payload { is List<String> -> list-length(payload), is String -> string-length(payload) }
        out text
        out size
    """
    assert diagnostics(src) == []
    assert value_type(src, "size") == "Int"


def test_match_diagnostics() -> None:
    """Non-exhaustive (E015 at match), never-matching pattern (E015), unreachable case (W003)."""
    src = """
        in ev: {a: Int} | {b: String} | {c: Boolean}
        in o: Int
        x = match ev { {a} -> 1, {b} -> 2 }
        y = match ev { {z} -> 1, _ -> 2, {a} -> 3 }
        w = match (o when true) { _ -> 1 }
        out x
        out y
        out w
    """
    assert diagnostics(src) == [
        (
            "E015",
            3,
            5,
            "match is not exhaustive: { c: Boolean } not covered",
            "add a case for each missing variant, or '_ -> …'",
        ),
        ("E015", 4, 16, "this pattern never matches: no variant has the fields z", None),
        ("W003", 4, 34, "unreachable case: every value it matches is matched above", None),
        (
            "E015",
            5,
            5,
            "cannot match on an Optional value (Optional<Int>)",
            "unwrap it first with ?? or when",
        ),
    ]


def test_options_are_validated() -> None:
    """E016 for unknown, repeated, ill-formed and out-of-range options; E017 for fallbacks."""
    src = """
        in t: String
        a = Uppercase(t) with retires: 2
        b = Uppercase(t) with retry: 1, retry: 2
        c = Uppercase(t) with concurrency: 0
        d = Uppercase(t) with timeout: 5
        e = Uppercase(t) with backoff: quadratic
        f = Uppercase(t) with priority: 101, on_error: ignore
        g = Uppercase(t) with fallback: 42
        h = Uppercase(t) with throttle: 0/1s, retry
        out a
        out b
        out c
        out d
        out e
        out f
        out g
        out h
    """
    assert errors(src) == [
        ("E016", 2, 23, "unknown option 'retires'", None),
        ("E016", 3, 33, "option 'retry' is given more than once", "keep one of them"),
        ("E016", 4, 36, "invalid value for 'concurrency': 0 (must be an integer ≥ 1)", None),
        (
            "E016",
            5,
            32,
            "invalid value for 'timeout': 5 (must be a duration such as 200ms, 3s or 1min)",
            None,
        ),
        (
            "E016",
            6,
            32,
            "invalid value for 'backoff': quadratic (must be fixed, linear or exponential)",
            None,
        ),
        (
            "E016",
            7,
            33,
            "invalid value for 'priority': 101 (must be an integer from 0 to 100)",
            None,
        ),
        (
            "E016",
            7,
            48,
            "invalid value for 'on_error': ignore (must be fail, propagate, skip, log or wrap)",
            None,
        ),
        (
            "E017",
            8,
            33,
            "fallback of type Int does not match String, the result type of Uppercase",
            None,
        ),
        (
            "E016",
            9,
            33,
            "invalid value for 'throttle': 0/1s (must be a rate such as 10/1s: a count ≥ 1 per duration)",
            None,
        ),
        ("E016", 9, 39, "option 'retry' needs a value", None),
    ]


def test_option_warnings() -> None:
    """W004 for options without effect; the program still compiles."""
    src = """
        in t: String
        a = Uppercase(t) with delay: 1s, cache_backend: "redis", retry: 11
        b = Uppercase(t) with backoff: linear
        out a
        out b
    """
    codes = sorted((d[0], d[3]) for d in diagnostics(src))
    assert codes == sorted(
        [
            ("W004", "'backoff' has no effect without 'retry'"),
            ("W004", "'cache_backend' has no effect without 'cache'"),
            (
                "W004",
                "cache backend 'redis' is not configured; the built-in \"memory\" backend is used",
            ),
            ("W004", "'retry: 11' is more than 10 retries"),
        ]
    )


def test_unused_declarations_warn() -> None:
    """W001 for assignments and W002 for inputs that no output needs."""
    src = "in a: Int\nin b: Int\nx = a + 1\ny = b\nout x\n"
    assert diagnostics(src) == [
        ("W002", 2, 4, "input 'b' is not used by any output, so it is never required", None),
        (
            "W001",
            4,
            1,
            "'y' is not used by any output, so it is never evaluated",
            "remove it, or add 'out y'",
        ),
    ]


def test_input_defaults_and_annotations() -> None:
    """Defaults must be constants of the declared type; @doc once; @example values typed."""
    src = """
        in a: Float = 1
        in b: Int = "x"
        in c: Int = a
        @doc("first")
        @doc("second")
        @example("no")
        in d: Int
        out a
        out b
        out c
        out d
    """
    assert errors(src) == [
        ("E010", 2, 13, "default of 'b': expected Int, got String", None),
        (
            "E015",
            3,
            13,
            "default of 'c' must be a constant",
            "use a number, string, boolean, or a list or record of them",
        ),
        ("E030", 5, 2, "'@doc' is already given at line 4", None),
        ("E010", 6, 10, "example of 'd': expected Int, got String", None),
    ]


def test_defaults_are_converted_to_the_declared_type() -> None:
    """An Int default for a Float input is widened; examples and docs are kept."""
    src = '@doc("the rate")\n@example(2)\nin rate: Float = 1\nout rate\n'
    analysis = analyse(Source(src), REGISTRY, DEFAULT_LIMITS)
    assert analysis.checked is not None
    info = analysis.checked.inputs["rate"]
    assert (info.has_default, info.default, info.doc, info.examples) == (
        True,
        1.0,
        "the rate",
        (2.0,),
    )
    assert isinstance(info.default, float)


def test_lambda_parameters_shadow_and_stay_local() -> None:
    """A lambda parameter shadows a value and is not visible outside its body."""
    src = "in x: String\nys = map([1], (x) => x + 1)\nz = x\nout ys\nout z\n"
    assert diagnostics(src) == []
    leak = "ys = map([1], (v) => v + 1)\nz = v\nout ys\nout z\n"
    assert errors(leak) == [("E001", 2, 5, "undefined variable 'v'", "did you mean 'z'?")]


def test_declarations_in_any_order() -> None:
    """Order comes only from references."""
    src = "out c\nc = b * 2\nb = a + 1\nin a: Int\n"
    assert diagnostics(src) == []
    assert value_type(src, "c") == "Int"


def test_hiding_a_library_function_warns() -> None:
    """A global module named like a library function hides it, with W005."""
    reg = make_registry()

    @reg.module
    def trim(text: str) -> str:
        return text

    src = 'x = trim(" a ")\ny = stdlib.string.trim(" b ")\nout x\nout y\n'
    assert diagnostics(src, reg) == [
        (
            "W005",
            1,
            5,
            "the module 'trim' hides the standard-library function 'trim'",
            "call 'stdlib.string.trim' to reach the library function",
        )
    ]


def test_deep_chains_do_not_recurse() -> None:
    """A chain of 20,000 declarations checks without RecursionError."""
    lines = ["in x0: Int"] + [f"x{i} = x{i - 1} + 1" for i in range(1, 20_000)] + ["out x19999"]
    analysis = analyse(Source("\n".join(lines)), REGISTRY, DEFAULT_LIMITS)
    assert analysis.ok


def test_module_defaults_take_part_in_typing_and_warnings() -> None:
    """A registration default of on_error wrap changes the type; a default retry silences W004."""
    reg = make_registry()

    @reg.module(on_error="wrap", retry=2)
    def Flaky(x: int) -> int:
        return x

    src = "in n: Int\na = Flaky(n)\nb = Flaky(n) with delay: 10ms\nc = Flaky(n) with on_error: fail\nout a\nout b\nout c\n"
    analysis = analyse(Source(src), reg, DEFAULT_LIMITS)
    assert analysis.diagnostics == ()
    assert analysis.checked is not None
    wrapped = "{ ok: Boolean, value: Optional<Int>, error: Optional<String> }"
    assert ty.show(analysis.checked.value_types["a"]) == wrapped
    assert ty.show(analysis.checked.value_types["b"]) == wrapped
    assert ty.show(analysis.checked.value_types["c"]) == "Int"


def test_skip_default_with_fallback_warns_at_the_fallback() -> None:
    """on_error: skip from the module with a fallback in the clause gives W004 at 'fallback'."""
    reg = make_registry()

    @reg.module(on_error="skip")
    def Maybe(x: int) -> int:
        return x

    src = "in n: Int\na = Maybe(n) with fallback: 0\nout a\n"
    assert diagnostics(src, reg) == [
        ("W004", 2, 19, "'on_error: skip' with 'fallback' only covers failures of the fallback", None)
    ]


def test_filter_keeps_the_element_type() -> None:
    """filter with a wider annotated parameter still returns the list's own element type."""
    assert value_type("x = filter([1, 2], (v: Float) => v > 1.5)\nout x\n", "x") == "List<Int>"
