"""Tests for constellation.stdlib: the §9 table, signatures, semantics and failure messages."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from constellation.errors import EvaluationFailure
from constellation.stdlib import (
    STDLIB,
    STDLIB_GROUPS,
    STDLIB_VERSION,
    arithmetic,
    functions_in,
    lookup_qualified,
    namespaces,
)
from constellation.types import (
    FLOAT,
    INT,
    NOTHING,
    STRING,
    ListT,
    MapT,
    optional,
    record,
)

INT_MAX = 2**63 - 1
INT_MIN = -(2**63)

SPEC_GROUPS = {
    "string": "concat string-length join split contains starts-with ends-with index-of replace "
    "trim uppercase lowercase substring",
    "math": "add subtract multiply divide modulo max min abs negate round floor ceil",
    "list": "list-length list-is-empty list-first list-last list-get list-sum list-min list-max "
    "list-concat list-contains list-reverse list-sort list-distinct list-take list-drop "
    "list-flatten",
    "collection": "map filter all any",
    "map": "map-get map-contains map-keys map-values",
    "compare": "eq neq lt lte gt gte eq-int eq-string",
    "convert": "to-string to-int to-float",
    "optional": "is-present is-absent",
    "": "identity",
    "debug": "log",
}


def call(name: str, *args: object, **kwargs: object) -> object:
    impl = STDLIB[name].impl
    assert impl is not None
    return impl(*args, **kwargs)


def fails(name: str, *args: object, **kwargs: object) -> str:
    with pytest.raises(EvaluationFailure) as info:
        call(name, *args, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- the table


def test_every_spec_function_is_present_in_its_group() -> None:
    """The library holds exactly the functions of §9, each in its group."""
    expected = {name: group for group, names in SPEC_GROUPS.items() for name in names.split()}
    assert {name: fn.group for name, fn in STDLIB.items()} == expected


def test_groups_version_and_namespaces() -> None:
    """Groups are listed in order; every group is a namespace, the empty bool one included."""
    assert STDLIB_VERSION == "1"
    assert STDLIB_GROUPS == (
        "string", "math", "list", "collection", "map", "compare", "convert", "optional",
        "debug", "bool",
    )  # fmt: skip
    assert namespaces() == {"stdlib", *(f"stdlib.{g}" for g in STDLIB_GROUPS)}
    assert functions_in("stdlib.bool") == {}
    assert set(functions_in("stdlib.math")) == set(SPEC_GROUPS["math"].split())
    assert functions_in("stdlib") == STDLIB
    assert functions_in("stdlib.nope") == {}
    assert functions_in("billing") == {}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("add", "(a: N, b: N) -> N"),
        ("round", "(x: N) -> Int"),
        ("list-sum", "(xs: List<N>) -> N"),
        ("list-min", "(xs: List<O>) -> O"),
        ("list-get", "(xs: List<T>, i: Int) -> Optional<T>"),
        ("list-concat", "(a: List<T>, b: List<U>) -> List<T>"),
        ("list-flatten", "(xss: List<List<T>>) -> List<T>"),
        ("map-get", "(m: Map<K, V>, k: K) -> Optional<V>"),
        ("map-keys", "(m: Map<K, V>) -> List<K>"),
        ("to-int", "(x: Int | Float | String) -> Int"),
        ("to-float", "(x: Int | Float | String) -> Float"),
        ("eq", "(a: T, b: U) -> Boolean"),
        ("lt", "(a: O, b: O) -> Boolean"),
        ("map", "(xs: List<T>, f: (T) => U) -> List<U>"),
        ("filter", "(xs: List<T>, p: (T) => Boolean) -> List<T>"),
        ("is-present", "(o: Optional<T>) -> Boolean"),
        ("substring", "(s: String, start: Int, end: Int) -> String"),
        ("identity", "(x: T) -> T"),
        ("log", "(x: T) -> T"),
    ],
)
def test_signatures(name: str, text: str) -> None:
    """Signatures are written with the spec's type variables."""
    assert str(STDLIB[name].signature) == text


def test_type_variable_kinds() -> None:
    """N is numeric, O ordered, T any."""
    add, lst_min, ident = STDLIB["add"], STDLIB["list-min"], STDLIB["identity"]
    assert add.signature.result.kind == "numeric"  # type: ignore[union-attr]
    assert lst_min.signature.result.kind == "ordered"  # type: ignore[union-attr]
    assert ident.signature.result.kind == "any"  # type: ignore[union-attr]


def test_rules_and_missing_impls() -> None:
    """Special typing rules are marked, and only the higher-order functions lack an impl."""
    rules = {name: fn.rule for name, fn in STDLIB.items() if fn.rule != "plain"}
    assert rules == {
        "eq": "equality", "neq": "equality",
        "lt": "ordering", "lte": "ordering", "gt": "ordering", "gte": "ordering",
        "list-concat": "concat",
        "map": "higher-order", "filter": "higher-order", "all": "higher-order",
        "any": "higher-order",
    }  # fmt: skip
    assert {name for name, fn in STDLIB.items() if fn.impl is None} == {
        "map", "filter", "all", "any",
    }  # fmt: skip
    assert {name for name, fn in STDLIB.items() if fn.needs_types} == {
        "to-string", "log", "list-sum",
    }  # fmt: skip


def test_qualified_names_and_lookup() -> None:
    """Functions are reachable as stdlib.<group>.<name> and stdlib.<name>."""
    assert STDLIB["max"].qualified_name == "stdlib.math.max"
    assert STDLIB["identity"].qualified_name == "stdlib.identity"
    assert STDLIB["max"].version == "1"
    assert lookup_qualified("stdlib.math.max") is STDLIB["max"]
    assert lookup_qualified("stdlib.max") is STDLIB["max"]
    assert lookup_qualified("stdlib.identity") is STDLIB["identity"]
    assert lookup_qualified("stdlib.collection.map") is STDLIB["map"]
    assert lookup_qualified("stdlib.string.max") is None
    assert lookup_qualified("stdlib.string.reverse") is None
    assert lookup_qualified("stdlib.bool.and") is None
    assert lookup_qualified("stdlib..identity") is None
    assert lookup_qualified("math.max") is None
    assert lookup_qualified("stdlib") is None
    assert lookup_qualified("stdlib.math.max.x") is None


# --------------------------------------------------------------------------- math


@pytest.mark.parametrize(
    ("name", "args", "result"),
    [
        ("add", (2, 3), 5),
        ("add", (2.5, 0.5), 3.0),
        ("subtract", (2, 5), -3),
        ("multiply", (-4, 3), -12),
        ("divide", (-9, 4), -2),
        ("divide", (9, -4), -2),
        ("divide", (9, 4), 2),
        ("divide", (-9, -4), 2),
        ("divide", (7.0, 2.0), 3.5),
        ("modulo", (-9, 4), -1),
        ("modulo", (9, -4), 1),
        ("modulo", (-9, -4), -1),
        ("modulo", (9, 4), 1),
        ("modulo", (-7.5, 2.0), -1.5),
        ("modulo", (7.5, -2.0), 1.5),
        ("max", (2, 3), 3),
        ("max", (2.0, 3.5), 3.5),
        ("min", (2, 3), 2),
        ("min", (-1.5, 3.0), -1.5),
        ("abs", (-5,), 5),
        ("abs", (-2.5,), 2.5),
        ("negate", (5,), -5),
        ("negate", (0.0,), -0.0),
        ("round", (0.5,), 1),
        ("round", (-0.5,), -1),
        ("round", (-1.5,), -2),
        ("round", (-2.5,), -3),
        ("round", (2.5,), 3),
        ("round", (3.49,), 3),
        ("round", (0.49999999999999994,), 0),
        ("round", (7,), 7),
        ("floor", (-1.5,), -2),
        ("floor", (1.5,), 1),
        ("ceil", (-1.5,), -1),
        ("ceil", (1.2,), 2),
        ("ceil", (4,), 4),
        ("add", (INT_MAX - 1, 1), INT_MAX),
        ("divide", (INT_MIN, 1), INT_MIN),
        ("modulo", (INT_MIN, -1), 0),
    ],
)
def test_math(name: str, args: tuple[object, ...], result: object) -> None:
    """Math functions follow §4.3 and §9.2 (truncating division, dividend-signed modulo)."""
    value = call(name, *args)
    assert value == result
    assert type(value) is type(result)


def test_round_floor_ceil_return_ints() -> None:
    """round, floor and ceil of a Float give a Python int."""
    for name in ("round", "floor", "ceil"):
        assert type(call(name, 2.7)) is int


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("divide", (1, 0), "divide: division by zero"),
        ("divide", (1.0, 0.0), "divide: division by zero"),
        ("divide", (1.0, -0.0), "divide: division by zero"),
        ("modulo", (1, 0), "modulo: modulo by zero"),
        ("modulo", (1.5, 0.0), "modulo: modulo by zero"),
        ("add", (INT_MAX, 1), "add: integer overflow"),
        ("subtract", (INT_MIN, 1), "subtract: integer overflow"),
        ("multiply", (2**32, 2**31), "multiply: integer overflow"),
        ("divide", (INT_MIN, -1), "divide: integer overflow"),
        ("negate", (INT_MIN,), "negate: integer overflow"),
        ("abs", (INT_MIN,), "abs: integer overflow"),
        ("add", (1.7e308, 1.7e308), "add: float overflow"),
        ("multiply", (1e200, 1e200), "multiply: float overflow"),
        ("divide", (1e308, 1e-10), "divide: float overflow"),
        ("round", (1e19,), "round: integer overflow"),
        ("floor", (-1e19,), "floor: integer overflow"),
        ("ceil", (9.3e18,), "ceil: integer overflow"),
    ],
)
def test_math_failures(name: str, args: tuple[object, ...], message: str) -> None:
    """Failures name the function and the reason exactly."""
    assert fails(name, *args) == message


def test_arithmetic_without_a_name() -> None:
    """The operator form of arithmetic reports the bare reason."""
    assert arithmetic("%", -9, 4) == -1
    with pytest.raises(EvaluationFailure, match=r"^division by zero$"):
        arithmetic("/", 1, 0)
    with pytest.raises(EvaluationFailure, match=r"^integer overflow$"):
        arithmetic("*", INT_MAX, 2)


ints64 = st.integers(INT_MIN, INT_MAX)


@given(ints64, ints64)
def test_divide_modulo_identity(a: int, b: int) -> None:
    """For Ints, a == (a / b) * b + a % b, |a % b| < |b| and a % b has the sign of a."""
    assume(b != 0 and not (a == INT_MIN and b == -1))
    q, r = call("divide", a, b), call("modulo", a, b)
    assert isinstance(q, int)
    assert isinstance(r, int)
    assert q * b + r == a
    assert abs(r) < abs(b)
    assert r == 0 or (r > 0) == (a > 0)


@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
def test_float_modulo_is_fmod(a: float, b: float) -> None:
    """Float modulo is math.fmod (the sign of the dividend)."""
    assume(b != 0.0)
    assert call("modulo", a, b) == math.fmod(a, b)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15))
def test_round_is_nearest_with_halves_away_from_zero(x: float) -> None:
    """round is within 1/2 of x, and exact halves go away from zero."""
    r = call("round", x)
    assert isinstance(r, int)
    assert abs(r - x) <= 0.5
    if abs(r - x) == 0.5:
        assert abs(r) > abs(x)


# --------------------------------------------------------------------------- strings


@pytest.mark.parametrize(
    ("name", "args", "result"),
    [
        ("concat", ("ab", "cd"), "abcd"),
        ("string-length", ("héllo🙂",), 6),
        ("string-length", ("",), 0),
        ("join", (["a", "b", "c"], ", "), "a, b, c"),
        ("join", ([], ", "), ""),
        ("split", ("a,b,,c", ","), ["a", "b", "", "c"]),
        ("split", ("a,b,", ","), ["a", "b", ""]),
        ("split", ("a.b", "."), ["a", "b"]),
        ("split", ("a.*b", ".*"), ["a", "b"]),
        ("split", ("hé🙂", ""), ["h", "é", "🙂"]),
        ("split", ("", ""), []),
        ("split", ("", ","), [""]),
        ("split", ("abc", "abc"), ["", ""]),
        ("contains", ("abc", "b"), True),
        ("contains", ("abc", ""), True),
        ("contains", ("abc", "d"), False),
        ("starts-with", ("abc", "ab"), True),
        ("ends-with", ("abc", "bc"), True),
        ("ends-with", ("abc", "ab"), False),
        ("index-of", ("🙂ab", "a"), 1),
        ("index-of", ("abc", "z"), -1),
        ("index-of", ("abc", ""), 0),
        ("replace", ("aaa", "aa", "b"), "ba"),
        ("replace", ("abc", "", "x"), "abc"),
        ("replace", ("a-b-c", "-", ""), "abc"),
        ("trim", ("\u00a0 x y\t\n",), "x y"),
        ("uppercase", ("straße",), "STRASSE"),
        ("lowercase", ("ÀB",), "àb"),
        ("substring", ("hello", 1, 3), "el"),
        ("substring", ("hello", -5, 2), "he"),
        ("substring", ("hello", 3, 99), "lo"),
        ("substring", ("hello", 3, 3), ""),
        ("substring", ("hello", 4, 1), ""),
        ("substring", ("h🙂llo", 1, 2), "🙂"),
    ],
)
def test_strings(name: str, args: tuple[object, ...], result: object) -> None:
    """String functions work on code points (§9.1)."""
    assert call(name, *args) == result


# --------------------------------------------------------------------------- lists


@pytest.mark.parametrize(
    ("name", "args", "result"),
    [
        ("list-length", ([1, 2, 3],), 3),
        ("list-is-empty", ([],), True),
        ("list-is-empty", ([0],), False),
        ("list-first", ([1, 2],), 1),
        ("list-last", ([1, 2],), 2),
        ("list-get", ([1, 2], 1), 2),
        ("list-get", ([1, 2], 2), None),
        ("list-get", ([1, 2], -1), None),
        ("list-sum", ([1, 2, 3],), 6),
        ("list-sum", ([0.5, 0.25],), 0.75),
        ("list-sum", ([],), 0),
        ("list-sum", ([INT_MAX, 1, -1],), INT_MAX),
        ("list-min", ([3, 1, 2],), 1),
        ("list-max", (["b", "B", "a"],), "b"),
        ("list-min", (["b", "B", "a"],), "B"),
        ("list-concat", ([1], [2, 3]), [1, 2, 3]),
        ("list-contains", ([1, 2], 2.0), True),
        ("list-contains", ([1, 2], True), False),
        ("list-contains", ([{"a": 1, "b": 2}], {"b": 2, "a": 1}), True),
        ("list-reverse", ([1, 2, 3],), [3, 2, 1]),
        ("list-sort", ([3, 1, 2],), [1, 2, 3]),
        ("list-sort", (["b", "a", "B", "ab"],), ["B", "a", "ab", "b"]),
        ("list-distinct", ([1, 2.0, 2, 1, 3],), [1, 2.0, 3]),
        ("list-distinct", ([True, 1, False, 0],), [True, 1, False, 0]),
        ("list-distinct", ([{"a": 1, "b": 2}, {"b": 2, "a": 1}],), [{"a": 1, "b": 2}]),
        ("list-distinct", ([None, None, [1], [1.0]],), [None, [1]]),
        ("list-take", ([1, 2, 3], 2), [1, 2]),
        ("list-take", ([1, 2, 3], -1), []),
        ("list-take", ([1, 2, 3], 9), [1, 2, 3]),
        ("list-drop", ([1, 2, 3], 2), [3]),
        ("list-drop", ([1, 2, 3], -1), [1, 2, 3]),
        ("list-drop", ([1, 2, 3], 9), []),
        ("list-flatten", ([[1], [], [2, 3]],), [1, 2, 3]),
    ],
)
def test_lists(name: str, args: tuple[object, ...], result: object) -> None:
    """List functions follow §9.3."""
    value = call(name, *args)
    assert value == result
    assert type(value) is type(result)


def test_list_sort_is_stable() -> None:
    """Equal elements keep their order (2 and 2.0 compare equal)."""
    assert [type(x) for x in call("list-sort", [2.0, 1, 2])] == [int, float, int]  # type: ignore[attr-defined]


def test_list_functions_do_not_alias_their_input() -> None:
    """Results are new lists, so callers may not see later changes to the arguments."""
    xs = [1, 2, 3]
    for name in ("list-reverse", "list-sort", "list-distinct"):
        assert call(name, xs) is not xs
    assert call("list-take", xs, 3) is not xs
    assert call("list-concat", xs, []) is not xs


@pytest.mark.parametrize(
    ("xs", "types", "result"),
    [
        ([], (ListT(FLOAT),), 0.0),
        ([], (ListT(INT),), 0),
        ([], (ListT(NOTHING),), 0),
        ([], None, 0),
        ([1.0, 2.0], (ListT(FLOAT),), 3.0),
    ],
)
def test_list_sum_uses_the_static_element_type(
    xs: list[object], types: tuple[object, ...] | None, result: object
) -> None:
    """list-sum of [] is 0.0 for List<Float> and 0 otherwise (types= keyword)."""
    value = call("list-sum", xs, types=types)
    assert value == result
    assert type(value) is type(result)


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("list-first", ([],), "list-first: the list is empty"),
        ("list-last", ([],), "list-last: the list is empty"),
        ("list-min", ([],), "list-min: the list is empty"),
        ("list-max", ([],), "list-max: the list is empty"),
        ("list-sum", ([INT_MAX, 1],), "list-sum: integer overflow"),
        ("list-sum", ([1.7e308, 1.7e308],), "list-sum: float overflow"),
    ],
)
def test_list_failures(name: str, args: tuple[object, ...], message: str) -> None:
    """List failures name the function."""
    assert fails(name, *args) == message


# --------------------------------------------------------------------------- maps, compare, optional


def test_maps() -> None:
    """Map functions keep the map's order and give absent for missing keys."""
    m = {"b": 2, "a": 1}
    assert call("map-get", m, "a") == 1
    assert call("map-get", m, "z") is None
    assert call("map-contains", m, "b") is True
    assert call("map-contains", m, "z") is False
    assert call("map-keys", m) == ["b", "a"]
    assert call("map-values", m) == [2, 1]
    assert call("map-get", {7: "x"}, 7) == "x"


@pytest.mark.parametrize(
    ("name", "a", "b", "result"),
    [
        ("eq", 2, 2.0, True),
        ("eq", 1, True, False),
        ("eq", None, None, True),
        ("eq", None, 0, False),
        ("eq", {"a": [1]}, {"a": [1.0]}, True),
        ("neq", 1, 2, True),
        ("neq", [1], [1], False),
        ("lt", 1, 2, True),
        ("lt", "B", "a", True),
        ("lt", "ab", "a", False),
        ("lte", 2.0, 2.0, True),
        ("gt", "b", "a", True),
        ("gte", 1, 2, False),
        ("eq-int", 3, 3, True),
        ("eq-string", "a", "b", False),
        ("is-present", None, None, False),
        ("is-absent", None, None, True),
    ],
)
def test_comparisons(name: str, a: object, b: object, result: bool) -> None:
    """Comparisons follow §4.5: structural equality, code-point ordering."""
    if name in ("is-present", "is-absent"):
        assert call(name, a) is result
        assert call(name, 0) is not result
    else:
        assert call(name, a, b) is result


def test_identity() -> None:
    """identity returns its argument itself."""
    x = {"a": [1]}
    assert call("identity", x) is x


# --------------------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    ("arg", "result"),
    [
        (42, 42),
        (2.9, 2),
        (-2.9, -2),
        (-0.5, 0),
        ("17", 17),
        ("  -17\t", -17),
        ("+5", 5),
        ("007", 7),
        ("\u00a042\u00a0", 42),
        (str(INT_MAX), INT_MAX),
        (str(INT_MIN), INT_MIN),
        ("0000000000000000000000000001", 1),
    ],
)
def test_to_int(arg: object, result: int) -> None:
    """to-int truncates Floats and parses trimmed [+-]?[0-9]+ strings."""
    value = call("to-int", arg)
    assert value == result
    assert type(value) is int


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("abc", 'to-int: cannot convert "abc" to Int'),
        ("", 'to-int: cannot convert "" to Int'),
        ("1.5", 'to-int: cannot convert "1.5" to Int'),
        ("1_000", 'to-int: cannot convert "1_000" to Int'),
        ("١٢", 'to-int: cannot convert "١٢" to Int'),
        ("0x10", 'to-int: cannot convert "0x10" to Int'),
        ("+-1", 'to-int: cannot convert "+-1" to Int'),
        ("- 1", 'to-int: cannot convert "- 1" to Int'),
        ('say "1"\n', 'to-int: cannot convert "say \\"1\\"\\n" to Int'),
        (str(INT_MAX + 1), "to-int: integer overflow"),
        (str(INT_MIN - 1), "to-int: integer overflow"),
        ("9" * 5000, "to-int: integer overflow"),
        (1e19, "to-int: integer overflow"),
    ],
)
def test_to_int_failures(arg: object, message: str) -> None:
    """to-int fails with the quoted original text, or with integer overflow."""
    assert fails("to-int", arg) == message


@pytest.mark.parametrize(
    ("arg", "result"),
    [
        (3, 3.0),
        (2.5, 2.5),
        ("3", 3.0),
        (" -1.5e3 ", -1500.0),
        ("+2E-2", 0.02),
        ("007.50", 7.5),
        ("1e-400", 0.0),
    ],
)
def test_to_float(arg: object, result: float) -> None:
    """to-float accepts Int or Float syntax with an optional sign, after trimming."""
    value = call("to-float", arg)
    assert value == result
    assert type(value) is float


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("nan", 'to-float: cannot convert "nan" to Float'),
        ("inf", 'to-float: cannot convert "inf" to Float'),
        ("-Infinity", 'to-float: cannot convert "-Infinity" to Float'),
        ("1.", 'to-float: cannot convert "1." to Float'),
        (".5", 'to-float: cannot convert ".5" to Float'),
        ("1_0.0", 'to-float: cannot convert "1_0.0" to Float'),
        ("abc", 'to-float: cannot convert "abc" to Float'),
        ("1e400", "to-float: float overflow"),
    ],
)
def test_to_float_failures(arg: object, message: str) -> None:
    """to-float refuses nan, inf and partial numbers, and fails on overflow."""
    assert fails("to-float", arg) == message


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_to_float_reads_what_to_string_writes(x: float) -> None:
    """to-float(to-string(x)) == x for every Float."""
    assert call("to-float", call("to-string", x, types=(FLOAT,))) == x


@given(ints64)
def test_to_int_reads_what_to_string_writes(n: int) -> None:
    """to-int(to-string(n)) == n for every Int."""
    assert call("to-int", call("to-string", n, types=(INT,))) == n


@pytest.mark.parametrize(
    ("value", "t", "text"),
    [
        ("plain", STRING, "plain"),
        (2.0, FLOAT, "2.0"),
        (2, INT, "2"),
        (None, optional(INT), ""),
        ([1.5, None], ListT(optional(FLOAT)), "[1.5, null]"),
        (
            {"id": 3, "tags": ["x"]},
            record([("id", INT), ("tags", ListT(STRING))]),
            '{id: 3, tags: ["x"]}',
        ),
        ({7: "a"}, MapT(INT, STRING), '{7: "a"}'),
    ],
)
def test_to_string_renders_with_the_static_type(value: object, t: object, text: str) -> None:
    """to-string renders as §6.2 using the instantiated parameter type passed as types=."""
    assert call("to-string", value, types=(t,)) == text


def test_log_logs_the_rendering_and_returns_the_value(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """log returns x and logs its rendering at INFO on constellation.pipeline, printing nothing."""
    value = {"a": [1.0]}
    with caplog.at_level(logging.INFO, logger="constellation.pipeline"):
        assert call("log", value, types=(record({"a": ListT(FLOAT)}),)) is value
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("constellation.pipeline", logging.INFO, "{a: [1.0]}")
    ]
    assert capsys.readouterr() == ("", "")


def test_every_function_has_a_description() -> None:
    """Every function carries a one-line description for listings."""
    assert [name for name, fn in STDLIB.items() if not fn.description] == []
