"""The type language: normal form, subtyping, lub, printing, schemas, JSON forms."""

from __future__ import annotations

import pytest

from constellation import types as ty
from constellation.types import (
    BOOLEAN,
    ERROR,
    FLOAT,
    INT,
    NOTHING,
    STRING,
    ListT,
    MapT,
    OptionalT,
    is_subtype,
    lub,
    optional,
    record,
    show,
    union,
)

A = record({"a": INT})
B = record({"b": STRING})


def test_optional_of_optional_is_flattened() -> None:
    """Optional<Optional<T>> is Optional<T>."""
    assert optional(optional(INT)) == OptionalT(INT)


def test_union_is_flat_without_repeats_in_first_order() -> None:
    """Unions flatten, drop repeats, keep first-appearance order, and collapse to one member."""
    u = union([INT, union([STRING, INT]), BOOLEAN])
    assert show(u) == "Int | String | Boolean"
    assert union([INT, INT]) == INT


def test_records_compare_without_order_but_print_in_order() -> None:
    """Field order does not matter for equality but is kept for display."""
    r1 = record([("x", INT), ("y", STRING)])
    r2 = record([("y", STRING), ("x", INT)])
    assert r1 == r2
    assert hash(r1) == hash(r2)
    assert show(r1) == "{ x: Int, y: String }"
    assert show(r2) == "{ y: String, x: Int }"


def test_merge_keeps_left_places_and_right_types() -> None:
    """{x: Int, y: Int} ⊕ {y: String, z: Boolean} is {x: Int, y: String, z: Boolean} (§3.2)."""
    left = record([("x", INT), ("y", INT)])
    right = record([("y", STRING), ("z", BOOLEAN)])
    assert show(ty.merge(left, right)) == "{ x: Int, y: String, z: Boolean }"


@pytest.mark.parametrize(
    ("s", "t", "expected"),
    [
        (INT, FLOAT, True),
        (FLOAT, INT, False),
        (NOTHING, STRING, True),
        (ListT(INT), ListT(FLOAT), True),
        (MapT(STRING, INT), MapT(STRING, FLOAT), True),
        (MapT(INT, INT), MapT(STRING, INT), False),
        (INT, OptionalT(FLOAT), True),
        (OptionalT(INT), INT, False),
        (record({"a": INT, "b": STRING}), A, True),
        (A, record({"a": INT, "b": STRING}), False),
        (A, union([A, B]), True),
        (union([INT, FLOAT]), FLOAT, True),
        (union([INT, STRING]), FLOAT, False),
        (ERROR, INT, True),
        (STRING, ERROR, True),
    ],
)
def test_subtyping(s: ty.Type, t: ty.Type, expected: bool) -> None:
    """The rules of §3.3."""
    assert is_subtype(s, t) is expected


@pytest.mark.parametrize(
    ("s", "t", "expected"),
    [
        (INT, INT, "Int"),
        (NOTHING, STRING, "String"),
        (INT, FLOAT, "Float"),
        (OptionalT(INT), FLOAT, "Optional<Float>"),
        (ListT(INT), ListT(FLOAT), "List<Float>"),
        (A, B, "{ a: Int } | { b: String }"),
        (record({"a": INT}), record({"a": FLOAT}), "{ a: Float }"),
        (record({"a": INT}), record({"a": STRING}), "{ a: Int } | { a: String }"),
        (union([A, B]), A, "{ a: Int } | { b: String }"),
        (union([INT, STRING]), STRING, "Int | String"),
        (ListT(NOTHING), ListT(STRING), "List<String>"),
    ],
)
def test_lub(s: ty.Type, t: ty.Type, expected: str) -> None:
    """The table of §3.4, symmetric."""
    assert show(lub(s, t) or ERROR) == expected
    assert lub(t, s) == lub(s, t)


@pytest.mark.parametrize(
    ("s", "t"),
    [(INT, STRING), (BOOLEAN, INT), (MapT(STRING, INT), MapT(INT, INT)), (ListT(INT), INT)],
)
def test_incompatible_types_have_no_lub(s: ty.Type, t: ty.Type) -> None:
    """Types with no rule in §3.4 are incompatible."""
    assert lub(s, t) is None


def test_notation_of_nested_types() -> None:
    """§3.6: one space inside braces, unions never parenthesized, functions with =>."""
    t = MapT(STRING, ListT(union([A, B])))
    assert show(t) == "Map<String, List<{ a: Int } | { b: String }>>"
    assert show(ty.EMPTY_RECORD) == "{}"
    assert show(ty.FuncT(INT, BOOLEAN)) == "(Int) => Boolean"
    assert str(ListT(INT)) == "List<Int>"


def test_json_schema_of_an_input_record() -> None:
    """Records require every field and reject others; Optionals allow null."""
    t = record({"id": INT, "tags": ListT(STRING), "note": OptionalT(STRING)})
    assert ty.json_schema(t) == {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["id", "tags", "note"],
        "additionalProperties": False,
    }


def test_json_schema_of_maps() -> None:
    """Map<String, V> is an object; Map<Int, V> is an array of [key, value] pairs."""
    assert ty.json_schema(MapT(STRING, FLOAT)) == {
        "type": "object",
        "additionalProperties": {"type": "number"},
    }
    pairs = ty.json_schema(MapT(INT, BOOLEAN))
    assert pairs["type"] == "array"
    assert pairs["items"] == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "boolean"}],
        "items": False,
        "minItems": 2,
    }


@pytest.mark.parametrize(
    "t",
    [
        INT,
        ListT(OptionalT(FLOAT)),
        MapT(INT, STRING),
        union([A, B]),
        record([("z", INT), ("a", ListT(B))]),
        ty.FuncT(INT, STRING),
        ty.TypeVar("N", "numeric"),
    ],
)
def test_json_form_round_trips(t: ty.Type) -> None:
    """from_json(to_json(t)) is t, field order included."""
    back = ty.from_json(ty.to_json(t))
    assert back == t
    assert show(back) == show(t)


@pytest.mark.parametrize("bad", ["Integer", {"list": 1}, {"record": "x"}, [1, 2], None])
def test_from_json_rejects_what_it_did_not_produce(bad: object) -> None:
    """A tampered stored type is a ValueError, not a crash or a wrong type."""
    with pytest.raises(ValueError, match="not a stored type"):
        ty.from_json(bad)
