"""Tests for constellation.values: rendering (§6.2), conformance, equality, zero values,
conversions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from constellation.types import (
    BOOLEAN,
    ERROR,
    FLOAT,
    INT,
    NOTHING,
    STRING,
    FuncT,
    ListT,
    MapT,
    Type,
    TypeVar,
    optional,
    record,
    union,
)
from constellation.values import (
    conforms,
    converter,
    equality_key,
    needs_conversion,
    quote,
    render,
    values_equal,
    zero_value,
)

# --------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2.0"),
        (123456789.0, "123456789.0"),
        (0.00012, "0.00012"),
        (0.0001, "0.0001"),
        (0.7999999999999999, "0.7999999999999999"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (2.5e20, "2.5e+20"),
        (1.5e-05, "1.5e-05"),
        (-0.0, "-0.0"),
        (-3.25, "-3.25"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_render_float_table(value: float, text: str) -> None:
    """Floats render like Python's repr: positional between 1e-4 and 1e16, else scientific."""
    assert render(value, FLOAT) == text


def test_render_int_where_float_expected() -> None:
    """An int value in a Float position renders as a float."""
    assert render(3, FLOAT) == "3.0"


@pytest.mark.parametrize(
    ("value", "t", "text"),
    [
        (42, INT, "42"),
        (-7, INT, "-7"),
        (True, BOOLEAN, "true"),
        (False, BOOLEAN, "false"),
        ('say "hi"\n', STRING, 'say "hi"\n'),
        ([1, 2], ListT(INT), "[1, 2]"),
        ([[1], []], ListT(ListT(INT)), "[[1], []]"),
        (["a", "b"], ListT(STRING), '["a", "b"]'),
        ([], ListT(NOTHING), "[]"),
        (
            {"id": 3, "tags": ["x"]},
            record([("id", INT), ("tags", ListT(STRING))]),
            '{id: 3, tags: ["x"]}',
        ),
        ({}, record({}), "{}"),
        ({"k": 1}, MapT(STRING, INT), '{"k": 1}'),
        ({7: "a"}, MapT(INT, STRING), '{7: "a"}'),
        ({}, MapT(STRING, INT), "{}"),
        (None, optional(INT), ""),
        (None, optional(STRING), ""),
        ("raw", optional(STRING), "raw"),
        ([1, None], ListT(optional(INT)), "[1, null]"),
        ({"a": None}, record({"a": optional(STRING)}), "{a: null}"),
        ([1.0, 2.5], ListT(FLOAT), "[1.0, 2.5]"),
    ],
)
def test_render_table(value: object, t: object, text: str) -> None:
    """Each row of the §6.2 table renders exactly."""
    assert render(value, t) == text  # type: ignore[arg-type]


def test_render_string_escapes_inside_containers() -> None:
    """Inside a container strings are quoted with escapes, controls as \\uXXXX and ${ as \\${."""
    value = ['a"b\\c', "l1\nl2\tx\ry", "\x01\x7f", "${x} and $5 and $"]
    assert render(value, ListT(STRING)) == (
        '["a\\"b\\\\c", "l1\\nl2\\tx\\ry", "\\u0001\\u007f", "\\${x} and $5 and $"]'
    )


def test_quote_keeps_non_ascii() -> None:
    """Non-ASCII text is kept as is when quoted."""
    assert quote("é🙂") == '"é🙂"'


def test_render_record_uses_type_field_order() -> None:
    """Record fields are shown in the static type's order, not the dict's."""
    t = record([("b", INT), ("a", STRING)])
    assert render({"a": "x", "b": 1}, t) == '{b: 1, a: "x"}'


def test_render_union_picks_the_conforming_member() -> None:
    """A union value renders as the member it conforms to (an int stays an Int)."""
    assert render(3, union((FLOAT, INT))) == "3"
    assert render(3.0, union((INT, FLOAT))) == "3.0"
    assert render("s", union((INT, STRING))) == "s"
    assert render(["s"], ListT(union((INT, STRING)))) == '["s"]'
    events = union((record({"ok": INT}), record({"err": STRING})))
    assert render({"err": "boom"}, events) == '{err: "boom"}'
    assert render(None, optional(union((INT, STRING)))) == ""


def test_render_without_a_useful_type_falls_back_to_the_value() -> None:
    """Type variables and the error type render by the shape of the value."""
    assert (
        render({"a": [1, 2.5, "x", None, True]}, TypeVar("T")) == '{a: [1, 2.5, "x", null, true]}'
    )
    assert render({1: "x"}, ERROR) == '{1: "x"}'
    assert render("top", TypeVar("T")) == "top"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_render_float_reads_back(x: float) -> None:
    """Every finite float renders to text that reads back to the same double."""
    text = render(x, FLOAT)
    assert float(text) == x
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, x)
    assert "." in text or "e" in text


# --------------------------------------------------------------------------- conforms


@pytest.mark.parametrize(
    ("value", "t", "expected"),
    [
        (1, INT, True),
        (True, INT, False),
        (2**63, INT, False),
        (-(2**63), INT, True),
        (1.0, INT, False),
        (1, FLOAT, True),
        (1.5, FLOAT, True),
        (False, FLOAT, False),
        (math.inf, FLOAT, False),
        (math.nan, FLOAT, False),
        ("x", STRING, True),
        (1, STRING, False),
        (True, BOOLEAN, True),
        (0, BOOLEAN, False),
        (None, NOTHING, False),
        (1, NOTHING, False),
        (None, optional(INT), True),
        (3, optional(INT), True),
        ("3", optional(INT), False),
        ([1, 2], ListT(INT), True),
        ([1, "2"], ListT(INT), False),
        ((1, 2), ListT(INT), False),
        ({"a": 1}, MapT(STRING, INT), True),
        ({1: 1}, MapT(STRING, INT), False),
        ({1: "a"}, MapT(INT, STRING), True),
        ({"id": 1}, record({"id": INT}), True),
        ({"id": 1, "x": 2}, record({"id": INT}), False),
        ({}, record({"id": INT}), False),
        ({"id": "1"}, record({"id": INT}), False),
        ({"ok": 1}, union((record({"ok": INT}), record({"err": STRING}))), True),
        ({"ok": "1"}, union((record({"ok": INT}), record({"err": STRING}))), False),
        ("x", union((INT, STRING)), True),
        (1.5, union((INT, STRING)), False),
        (object(), ERROR, True),
        (3, TypeVar("N", "numeric"), True),
        ("a", TypeVar("N", "numeric"), False),
        ("a", TypeVar("O", "ordered"), True),
        (len, FuncT(INT, INT), False),
    ],
)
def test_conforms(value: object, t: object, expected: bool) -> None:
    """Run-time conformance follows §4.10: no bools as numbers, exact record fields."""
    assert conforms(value, t) is expected  # type: ignore[arg-type]


# --------------------------------------------------------------------------- equality


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (2, 2.0, True),
        (0.0, -0.0, True),
        (1, True, False),
        (0, False, False),
        (True, True, True),
        (None, None, True),
        (None, 0, False),
        (0, None, False),
        ("a", "a", True),
        ("1", 1, False),
        ([1, 2], [1.0, 2.0], True),
        ([1, 2], [2, 1], False),
        ([1], [1, 1], False),
        ({"a": 1, "b": 2}, {"b": 2.0, "a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": 1}, {"b": 1}, False),
        ({1: "x"}, {1.0: "x"}, True),
        ({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]}, True),
        ([True], [1], False),
        ([], {}, False),
    ],
)
def test_values_equal(a: object, b: object, expected: bool) -> None:
    """Structural equality of §4.5: numbers by value, booleans never equal numbers."""
    assert values_equal(a, b) is expected
    assert values_equal(b, a) is expected
    assert (equality_key(a) == equality_key(b)) is expected


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from([0.0, 1.0, 2.5, -1.0])
    | st.sampled_from(["", "a", "b"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(_json_values, _json_values)
def test_equality_key_agrees_with_values_equal(a: object, b: object) -> None:
    """equality_key(a) == equality_key(b) exactly when values_equal(a, b)."""
    assert (equality_key(a) == equality_key(b)) is values_equal(a, b)


# --------------------------------------------------------------------------- zero values


@pytest.mark.parametrize(
    ("t", "zero"),
    [
        (INT, 0),
        (FLOAT, 0.0),
        (STRING, ""),
        (BOOLEAN, False),
        (ListT(INT), []),
        (MapT(STRING, INT), {}),
        (optional(INT), None),
        (record([("id", INT), ("tags", ListT(STRING)), ("n", record({"x": FLOAT}))]),
         {"id": 0, "tags": [], "n": {"x": 0.0}}),
        (union((STRING, INT)), ""),
        (union((record({"ok": BOOLEAN}), INT)), {"ok": False}),
    ],
)  # fmt: skip
def test_zero_value(t: object, zero: object) -> None:
    """Zero values follow §8.3 and conform to their type."""
    value = zero_value(t)  # type: ignore[arg-type]
    assert value == zero
    assert type(value) is type(zero)
    assert conforms(value, t)  # type: ignore[arg-type]


def test_zero_value_float_is_a_float() -> None:
    """The Float zero is 0.0, not 0."""
    assert isinstance(zero_value(FLOAT), float)


def test_zero_value_of_nothing_is_refused() -> None:
    """Nothing has no values, so no zero value."""
    with pytest.raises(ValueError, match=r"^the type Nothing has no zero value$"):
        zero_value(NOTHING)


# --------------------------------------------------------------------------- conversions


def convert(value: object, source: Type, to: Type) -> object:
    conv = converter(source, to)
    assert (conv is None) == (not needs_conversion(source, to))
    return value if conv is None else conv(value)


def test_int_to_float_deep_inside_containers() -> None:
    """Ints become floats inside lists, maps, optionals and record fields."""
    source = ListT(record([("n", optional(INT)), ("m", MapT(STRING, INT))]))
    to = ListT(record([("n", optional(FLOAT)), ("m", MapT(STRING, FLOAT))]))
    value = [{"n": 1, "m": {"k": 2}}, {"n": None, "m": {}}]
    out = convert(value, source, to)
    assert out == [{"n": 1.0, "m": {"k": 2.0}}, {"n": None, "m": {}}]
    assert isinstance(out, list)
    assert isinstance(out[0]["n"], float)
    assert value == [{"n": 1, "m": {"k": 2}}, {"n": None, "m": {}}]  # not mutated


def test_records_are_narrowed_and_reordered() -> None:
    """A record keeps only the target's fields, in the target's order."""
    source = record([("a", INT), ("b", STRING), ("c", INT)])
    out = convert({"a": 1, "b": "x", "c": 3}, source, record([("c", INT), ("a", FLOAT)]))
    assert out == {"c": 3, "a": 1.0}
    assert isinstance(out, dict)
    assert list(out) == ["c", "a"]


def test_nothing_to_convert() -> None:
    """Equal types, Nothing and String into Optional<String> need no conversion."""
    assert converter(INT, INT) is None
    assert converter(ListT(NOTHING), ListT(FLOAT)) is None
    assert converter(STRING, optional(STRING)) is None
    assert converter(INT, union([INT, STRING])) is None
    assert converter(record([("a", INT)]), record([("a", INT)])) is None


def test_union_sources_convert_by_the_member_the_value_is() -> None:
    """Int | Float into Float: only the ints change; a union target picks the member."""
    assert convert(3, union([FLOAT, INT]), FLOAT) == 3.0
    assert isinstance(convert(3, union([FLOAT, INT]), FLOAT), float)
    assert convert(2.5, union([FLOAT, INT]), FLOAT) == 2.5
    assert isinstance(convert(3, INT, union([FLOAT, STRING])), float)
    narrowed = convert(
        {"a": 1, "b": 2},
        record([("a", INT), ("b", INT)]),
        union([record([("a", INT)]), record([("b", STRING)])]),
    )
    assert narrowed == {"a": 1}
