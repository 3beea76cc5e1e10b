"""Tests for constellation.modules: type hints, decorator options, registries."""

from __future__ import annotations

import sys
import threading
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NewType, NotRequired, Optional, TypedDict, Union

import pytest

from constellation.errors import ModuleDefinitionError
from constellation.modules import (
    Module,
    Param,
    Registry,
    Signature,
    default_registry,
    duration_ms,
    module,
    normalize_options,
    qualified,
    type_from_hint,
)
from constellation.types import (
    BOOLEAN,
    FLOAT,
    INT,
    STRING,
    ListT,
    MapT,
    OptionalT,
    record,
    union,
)


class Address(TypedDict):
    street: str
    zip: str | None


class User(TypedDict):
    id: int
    tags: list[str]
    address: Address


class Partial(TypedDict, total=False):
    a: int


class WithNotRequired(TypedDict):
    a: int
    b: NotRequired[str]


@dataclass
class Point:
    x: float
    y: float


@dataclass
class Shape:
    name: str
    points: list[Point]
    origin: Point | None = None


@dataclass
class Broken:
    ok: int
    bad: object


@dataclass
class Node:
    value: int
    children: list[Node]


@dataclass
class Hidden:
    a: int
    b: int = field(init=False, default=0)


UserId = NewType("UserId", str)


# --------------------------------------------------------------------------- type hints


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (str, STRING),
        (int, INT),
        (float, FLOAT),
        (bool, BOOLEAN),
        (list[int], ListT(INT)),
        (typing.List[int], ListT(INT)),  # noqa: UP006
        (Sequence[str], ListT(STRING)),
        (typing.Sequence[str], ListT(STRING)),
        (list[list[bool]], ListT(ListT(BOOLEAN))),
        (dict[str, int], MapT(STRING, INT)),
        (dict[int, list[str]], MapT(INT, ListT(STRING))),
        (typing.Dict[str, float], MapT(STRING, FLOAT)),  # noqa: UP006
        (Mapping[str, int], MapT(STRING, INT)),
        (int | None, OptionalT(INT)),
        (Optional[int], OptionalT(INT)),  # noqa: UP045
        (Optional[int | None], OptionalT(INT)),  # noqa: UP045
        (int | str, union((INT, STRING))),
        (Union[int, str, None], OptionalT(union((INT, STRING)))),  # noqa: UP007
        (int | float, union((INT, FLOAT))),
        (UserId, STRING),
        (Point, record({"x": FLOAT, "y": FLOAT})),
        (
            User,
            record(
                [
                    ("id", INT),
                    ("tags", ListT(STRING)),
                    ("address", record([("street", STRING), ("zip", OptionalT(STRING))])),
                ]
            ),
        ),
        (
            Shape,
            record(
                [
                    ("name", STRING),
                    ("points", ListT(record({"x": FLOAT, "y": FLOAT}))),
                    ("origin", OptionalT(record({"x": FLOAT, "y": FLOAT}))),
                ]
            ),
        ),
    ],
)
def test_type_from_hint(hint: object, expected: object) -> None:
    """Python hints map to the language types of engine.md §2."""
    assert type_from_hint(hint) == expected


def test_record_fields_keep_declaration_order() -> None:
    """TypedDict and dataclass fields keep their declaration order."""
    assert type_from_hint(User).names == ("id", "tags", "address")  # type: ignore[union-attr]
    assert type_from_hint(Shape).names == ("name", "points", "origin")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        (
            Any,
            "Any is not allowed: the engine checks types, so use a concrete type such as str, "
            "int, float, bool, list[str], dict[str, int], a TypedDict or a dataclass",
        ),
        (
            object,
            "object is not allowed: the engine checks types, so use a concrete type such as "
            "str, int, float, bool, list[str], dict[str, int], a TypedDict or a dataclass",
        ),
        (type(None), "None is not a type of values here; use 'T | None'"),
        (list, "list needs an element type, e.g. list[str]"),
        (dict, "dict needs key and value types, e.g. dict[str, int]"),
        (dict[float, int], "map keys must be str or int, not float (in dict[float, int])"),
        (dict[bool, int], "map keys must be str or int, not bool (in dict[bool, int])"),
        (
            tuple[int, int],
            "tuple[int, int] is not a supported type; use str, int, float, bool, list[str], "
            "dict[str, int], a TypedDict or a dataclass",
        ),
        (
            bytes,
            "bytes is not a supported type; use str, int, float, bool, list[str], "
            "dict[str, int], a TypedDict or a dataclass",
        ),
        (
            Broken,
            "field 'bad' of dataclass 'Broken': object is not allowed: the engine checks types, "
            "so use a concrete type such as str, int, float, bool, list[str], dict[str, int], "
            "a TypedDict or a dataclass",
        ),
        (
            Node,
            "field 'children' of dataclass 'Node': dataclass 'Node' contains itself; record "
            "types cannot be recursive",
        ),
        (
            Hidden,
            "field 'b' of dataclass 'Hidden' is not an __init__ parameter, so a record value "
            "cannot be turned into the dataclass",
        ),
        (
            Partial,
            "field 'a' of TypedDict 'Partial' is not required; a record has every field: make "
            "it required, with an optional type ('a: T | None')",
        ),
        (
            WithNotRequired,
            "field 'b' of TypedDict 'WithNotRequired' is not required; a record has every "
            "field: make it required, with an optional type ('b: T | None')",
        ),
    ],
)
def test_type_from_hint_rejects(hint: object, message: str) -> None:
    """Unsupported hints are refused with a message that says what to use instead."""
    with pytest.raises(ModuleDefinitionError) as info:
        type_from_hint(hint)
    assert str(info.value) == message


def test_typeddict_field_names_must_be_identifiers() -> None:
    """A TypedDict key that is not a language identifier cannot be a record field."""
    Odd = TypedDict("Odd", {"my key": int})
    with pytest.raises(ModuleDefinitionError) as info:
        type_from_hint(Odd)
    assert str(info.value) == (
        "field 'my key' of TypedDict 'Odd' is not a valid field name; use letters, digits, "
        "'_' and inner '-'"
    )


# --------------------------------------------------------------------------- signatures


def test_signature_str() -> None:
    """Signatures print as (name: Type, ...) -> Type."""
    sig = Signature((Param("text", STRING), Param("n", ListT(INT))), OptionalT(INT))
    assert str(sig) == "(text: String, n: List<Int>) -> Optional<Int>"
    assert str(Signature((), INT)) == "() -> Int"


def test_qualified() -> None:
    """Qualified names join namespace and name with a dot; global modules have no prefix."""
    assert qualified("billing.v2", "total") == "billing.v2.total"
    assert qualified(None, "Uppercase") == "Uppercase"


def test_decorator_reads_the_signature() -> None:
    """@reg.module builds the module from the annotations, name, docstring and async-ness."""
    reg = Registry()

    @reg.module
    def Uppercase(text: str) -> str:
        """Upper-case a text.

        Uses Unicode case mapping.
        """
        return text.upper()

    m = reg.get("Uppercase")
    assert m is not None
    assert m.name == "Uppercase"
    assert m.namespace is None
    assert m.qualified_name == "Uppercase"
    assert str(m.signature) == "(text: String) -> String"
    assert m.description == "Upper-case a text."
    assert (m.is_async, m.blocking, m.version, dict(m.options)) == (False, False, "1", {})
    assert m.func is Uppercase
    assert str(m) == "Uppercase(text: String) -> String"


def test_decorator_returns_the_function_unchanged() -> None:
    """Both decorator forms return the original function, still callable from Python."""
    reg = Registry()

    def f(x: int) -> int:
        return x + 1

    assert reg.module(f) is f
    assert reg.module(name="g")(f) is f
    assert f(1) == 2
    assert {m.qualified_name for m in reg} == {"f", "g"}


def test_decorator_with_keywords() -> None:
    """@reg.module(...) takes a name, a namespace, a version, blocking and option defaults."""
    reg = Registry()

    @reg.module(name="fetch-user", namespace="crm.v2", version="3", retry=2, timeout="5s")
    async def fetch_user(user_id: str) -> User:
        raise NotImplementedError

    m = reg.get("crm.v2.fetch-user")
    assert m is not None
    assert (m.name, m.namespace, m.version, m.is_async) == ("fetch-user", "crm.v2", "3", True)
    assert dict(m.options) == {"retry": 2, "timeout": 5000}
    assert m.signature.result == type_from_hint(User)


def test_blocking_sync_module() -> None:
    """blocking=True is recorded for plain functions."""
    reg = Registry()
    m = reg.register(lambda_free_identity, blocking=True)
    assert m.blocking is True
    assert m.is_async is False


def lambda_free_identity(x: int) -> int:
    return x


def test_multiline_first_paragraph_is_joined() -> None:
    """The description is the first paragraph of the docstring on one line."""
    reg = Registry()

    def f(x: int) -> int:
        """Adds one
        to x.

        Details.
        """
        return x + 1

    assert reg.register(f).description == "Adds one to x."


def test_local_types_resolve_under_future_annotations() -> None:
    """Types defined in the decorating scope resolve even though annotations are strings."""
    reg = Registry()

    @dataclass
    class Local:
        a: int
        inner: list[Inner]

    @dataclass
    class Inner:
        b: str

    @reg.module
    def f(x: Local) -> Inner:
        return x.inner[0]

    m = reg.get("f")
    assert m is not None
    assert str(m.signature) == "(x: { a: Int, inner: List<{ b: String }> }) -> { b: String }"


def test_decorating_scope_does_not_shadow_names_of_the_record_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A record's string annotations resolve in its own module before the decorating scope."""
    other = types.ModuleType("other_records")
    monkeypatch.setitem(sys.modules, "other_records", other)
    exec(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "@dataclass\nclass Inner:\n    a: int\n"
        "@dataclass\nclass Outer:\n    inner: Inner\n",
        other.__dict__,
    )
    reg = Registry()

    @dataclass
    class Inner:
        b: str

    def f(x: other.Outer, y: Inner) -> int:  # type: ignore[name-defined]
        return 1

    m = reg.register(f)
    assert str(m.signature) == "(x: { inner: { a: Int } }, y: { b: String }) -> Int"


def test_dataclass_arguments_and_results_are_converted() -> None:
    """Record values become dataclass instances for the function, and results dicts again."""
    reg = Registry()

    def move(shape: Shape, by: list[Point], scale: dict[str, Point] | None) -> list[Shape]:
        return [shape]

    m = reg.register(move)
    args = m.to_python_args(
        [
            {"name": "s", "points": [{"x": 1.0, "y": 2.0}], "origin": None},
            [{"x": 0.0, "y": 1.0}],
            {"k": {"x": 3.0, "y": 4.0}},
        ]
    )
    assert args == [
        Shape("s", [Point(1.0, 2.0)], None),
        [Point(0.0, 1.0)],
        {"k": Point(3.0, 4.0)},
    ]
    assert m.to_python_args([{"name": "s", "points": [], "origin": None}, [], None])[2] is None
    result = m.from_python_result([Shape("t", [Point(1.0, 1.0)], Point(0.0, 0.0))])
    assert result == [
        {"name": "t", "points": [{"x": 1.0, "y": 1.0}], "origin": {"x": 0.0, "y": 0.0}}
    ]
    assert isinstance(result, list)
    assert list(result[0]) == ["name", "points", "origin"]


def test_plain_modules_need_no_conversion() -> None:
    """Without dataclasses, arguments pass through and tuples come back as lists."""
    reg = Registry()

    def f(xs: list[int], u: User) -> list[int]:
        return xs

    m = reg.register(f)
    args = [[1], {"id": 1, "tags": [], "address": {"street": "s", "zip": None}}]
    assert m.to_python_args(args) == args
    assert m.from_python_result((1, 2)) == [1, 2]
    assert m.from_python_result("not a list") == "not a list"


def test_union_with_a_dataclass_member_converts_by_shape() -> None:
    """A union argument is converted with the member its value conforms to."""
    reg = Registry()

    def f(p: Point | str) -> Point | str:
        return p

    m = reg.register(f)
    assert m.to_python_args([{"x": 1.0, "y": 2.0}]) == [Point(1.0, 2.0)]
    assert m.to_python_args(["s"]) == ["s"]
    assert m.from_python_result(Point(1.0, 2.0)) == {"x": 1.0, "y": 2.0}
    assert m.from_python_result("s") == "s"


# --------------------------------------------------------------------------- definition errors


def _reject(func: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ModuleDefinitionError) as info:
        Registry().register(func, **kwargs)
    return str(info.value)


def test_missing_parameter_annotation() -> None:
    """A missing parameter annotation names the function and parameter and shows a fix."""

    def fetch(x, y: int) -> int:  # type: ignore[no-untyped-def]
        return y

    assert _reject(fetch) == (
        "module 'fetch': parameter 'x' has no type annotation; annotate it, e.g. 'x: str'"
    )


def test_missing_return_annotation() -> None:
    """A missing result annotation is refused."""

    def fetch(x: int):  # type: ignore[no-untyped-def]
        return x

    assert _reject(fetch) == (
        "module 'fetch': the result has no type annotation; annotate it, e.g. '-> str'"
    )


def test_none_result_is_refused() -> None:
    """A module must return a value, so -> None is refused."""

    def notify(x: int) -> None:
        pass

    assert _reject(notify) == (
        "module 'notify': it returns None, but a module must return a value; annotate the "
        "result type, e.g. '-> str'"
    )


def test_any_parameter_is_refused() -> None:
    """Any names the function and the parameter."""

    def fetch(x: Any) -> int:
        return 1

    assert _reject(fetch) == (
        "module 'fetch': parameter 'x': Any is not allowed: the engine checks types, so use a "
        "concrete type such as str, int, float, bool, list[str], dict[str, int], a TypedDict "
        "or a dataclass"
    )


def test_bad_dataclass_field_names_the_field() -> None:
    """A dataclass whose field cannot map names the module, parameter and field."""

    def draw(b: Broken) -> int:
        return 1

    assert _reject(draw) == (
        "module 'draw': parameter 'b': field 'bad' of dataclass 'Broken': object is not "
        "allowed: the engine checks types, so use a concrete type such as str, int, float, "
        "bool, list[str], dict[str, int], a TypedDict or a dataclass"
    )


def test_unsupported_result() -> None:
    """An unsupported result type is reported as the result's."""

    def f(x: int) -> bytes:
        return b""

    assert _reject(f) == (
        "module 'f': the result: bytes is not a supported type; use str, int, float, bool, "
        "list[str], dict[str, int], a TypedDict or a dataclass"
    )


def test_star_and_keyword_only_parameters_are_refused() -> None:
    """*args, **kwargs and keyword-only parameters cannot be passed by a call."""

    def va(*xs: int) -> int:
        return 0

    def kw(**xs: int) -> int:
        return 0

    def ko(a: int, *, b: int) -> int:
        return 0

    assert _reject(va) == (
        "module 'va': parameter '*xs' is not supported; a module takes a fixed list of "
        "named parameters"
    )
    assert _reject(kw) == (
        "module 'kw': parameter '**xs' is not supported; a module takes a fixed list of "
        "named parameters"
    )
    assert _reject(ko) == (
        "module 'ko': parameter 'b' is keyword-only; calls pass arguments by position, so "
        "remove the '*' before it"
    )


def test_unresolvable_annotation() -> None:
    """An annotation naming an undefined type is refused with the reason."""

    def f(x: Undefined) -> int:  # type: ignore[name-defined]  # noqa: F821
        return 1

    assert _reject(f) == (
        "module 'f': cannot resolve its annotations (name 'Undefined' is not defined); define "
        "the types it uses before the function"
    )


def test_generators_and_classes_are_refused() -> None:
    """Generators and classes are not modules."""

    def gen(x: int) -> Iterator[int]:
        yield x

    assert _reject(gen) == ("module 'gen': a generator cannot be a module; return a list instead")
    assert _reject(Point) == "'Point' cannot be a module: a module is a function, not a class"


def test_async_blocking_is_refused() -> None:
    """blocking=True makes no sense for an async def."""

    async def f(x: int) -> int:
        return x

    assert _reject(f, blocking=True) == (
        "module 'f': blocking=True is for plain functions; an async def runs on the event loop"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"name": "in"},
            "module 'in' (function 'f'): the name 'in' is a reserved word; choose another name",
        ),
        (
            {"name": "_"},
            "module '_' (function 'f'): the name '_' is a reserved word; choose another name",
        ),
        (
            {"name": "fetch user"},
            "module 'fetch user' (function 'f'): the name 'fetch user' is not an identifier; "
            "use letters, digits and '_', '-' only between them, not starting with a digit "
            "(e.g. 'fetch-user')",
        ),
        (
            {"name": "2fa"},
            "module '2fa' (function 'f'): the name '2fa' is not an identifier; use letters, "
            "digits and '_', '-' only between them, not starting with a digit (e.g. "
            "'fetch-user')",
        ),
        (
            {"name": "a-"},
            "module 'a-' (function 'f'): the name 'a-' is not an identifier; use letters, "
            "digits and '_', '-' only between them, not starting with a digit (e.g. "
            "'fetch-user')",
        ),
        (
            {"name": "café"},
            "module 'café' (function 'f'): the name 'café' is not an identifier; use letters, "
            "digits and '_', '-' only between them, not starting with a digit (e.g. "
            "'fetch-user')",
        ),
        (
            {"namespace": "billing.if"},
            "module 'f': namespace segment of 'billing.if', 'if' is a reserved word; choose "
            "another name",
        ),
        (
            {"namespace": "billing..v2"},
            "module 'f': namespace segment of 'billing..v2', '' is not an identifier; use "
            "letters, digits and '_', '-' only between them, not starting with a digit (e.g. "
            "'fetch-user')",
        ),
        (
            {"namespace": "stdlib.math"},
            "module 'f': the namespace 'stdlib' belongs to the standard library; choose another",
        ),
        ({"version": ""}, "module 'f': version must be a non-empty string, e.g. '2'"),
    ],
)
def test_names_are_validated(kwargs: dict[str, Any], message: str) -> None:
    """Module names and namespace segments must be non-reserved identifiers (§1.3, §1.4)."""

    def f(x: int) -> int:
        return x

    assert _reject(f, **kwargs) == message


def test_lambda_needs_a_name() -> None:
    """A lambda has no usable name, and the message says how to give one."""
    with pytest.raises(ModuleDefinitionError) as info:
        Registry().register(lambda x: x)
    assert str(info.value) == (
        "module '<lambda>': the name '<lambda>' is not an identifier; use letters, digits "
        "and '_', '-' only between them, not starting with a digit (e.g. 'fetch-user'); pass "
        "name='...' to choose one"
    )


def test_hyphenated_names_are_allowed() -> None:
    """Hyphens between identifier characters are fine, as in the language."""
    reg = Registry()

    def f(x: int) -> int:
        return x

    reg.register(f, name="fetch-user_2", namespace="a-b.c_d")
    assert "a-b.c_d.fetch-user_2" in reg


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("5s", 5000),
        ("200ms", 200),
        ("1min", 60_000),
        ("1h", 3_600_000),
        ("1d", 86_400_000),
        (" 0s ", 0),
        (250, 250_000),
        (3, 3000),
        (2.5, 2500),
        (0.0015, 2),
        (timedelta(seconds=3), 3000),
        (timedelta(minutes=1, milliseconds=5), 60_005),
    ],
)
def test_duration_ms(value: object, ms: int) -> None:
    """Durations: language literals, numbers of seconds, timedeltas."""
    assert duration_ms(value) == ms


@pytest.mark.parametrize("value", ["5", "5 sec", "1.5s", "-1s", "", True, None, float("inf"), [1]])
def test_duration_ms_rejects(value: object) -> None:
    """Anything else is not a duration."""
    with pytest.raises(ValueError, match=r"is not a duration$"):
        duration_ms(value)


def test_options_are_normalized() -> None:
    """Decorator options are normalized like with-options (§8.2, §12); None means unset."""
    assert normalize_options(
        {
            "retry": 3,
            "timeout": "10s",
            "delay": 0,
            "backoff": "exponential",
            "cache": timedelta(hours=1),
            "cache_backend": "memory",
            "throttle": "10/1s",
            "concurrency": 4,
            "on_error": "propagate",
            "priority": "critical",
            "lazy": True,
            "fallback": None,
        }
    ) == {
        "retry": 3,
        "timeout": 10_000,
        "delay": 0,
        "backoff": "exponential",
        "cache": 3_600_000,
        "cache_backend": "memory",
        "throttle": (10, 1000),
        "concurrency": 4,
        "on_error": "fail",
        "priority": 100,
        "lazy": True,
    }


@pytest.mark.parametrize(
    ("options", "normalized"),
    [
        ({"priority": "background"}, {"priority": 0}),
        ({"priority": "low"}, {"priority": 20}),
        ({"priority": "normal"}, {"priority": 50}),
        ({"priority": "high"}, {"priority": 80}),
        ({"priority": 0}, {"priority": 0}),
        ({"priority": 100}, {"priority": 100}),
        ({"throttle": (5, "1min")}, {"throttle": (5, 60_000)}),
        ({"throttle": (5, 1.5)}, {"throttle": (5, 1500)}),
        ({"on_error": "wrap"}, {"on_error": "wrap"}),
        ({"lazy": False}, {"lazy": False}),
        ({"retry": 0}, {"retry": 0}),
    ],
)
def test_option_forms(options: dict[str, object], normalized: dict[str, object]) -> None:
    """Each option accepts its documented forms."""
    assert normalize_options(options) == normalized


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retry": -1}, "invalid value for 'retry': -1 (must be an integer ≥ 0)"),
        ({"retry": True}, "invalid value for 'retry': True (must be an integer ≥ 0)"),
        ({"retry": 1.0}, "invalid value for 'retry': 1.0 (must be an integer ≥ 0)"),
        (
            {"timeout": "5 seconds"},
            "invalid value for 'timeout': '5 seconds' (must be a duration: a number of "
            "seconds, a timedelta, or '5s', '200ms', '1min')",
        ),
        ({"timeout": 0}, "invalid value for 'timeout': 0 (must be a duration > 0)"),
        ({"timeout": -5}, "invalid value for 'timeout': -5 (must be a duration > 0)"),
        ({"cache": "0s"}, "invalid value for 'cache': '0s' (must be a duration > 0)"),
        ({"delay": -1.0}, "invalid value for 'delay': -1.0 (must be a duration ≥ 0)"),
        (
            {"backoff": "random"},
            "invalid value for 'backoff': 'random' (must be one of 'fixed', 'linear', "
            "'exponential')",
        ),
        (
            {"cache_backend": ""},
            "invalid value for 'cache_backend': '' (must be a non-empty string)",
        ),
        (
            {"throttle": "10 per second"},
            "invalid value for 'throttle': '10 per second' (must be 'count/duration' such as "
            "'10/1s', or a (count, duration) pair)",
        ),
        ({"throttle": "0/1s"}, "invalid value for 'throttle': 0 (must be an integer ≥ 1)"),
        ({"throttle": "x/1s"}, "invalid value for 'throttle': 'x' (must be an integer ≥ 1)"),
        ({"throttle": (1, "0s")}, "invalid value for 'throttle': '0s' (must be a duration > 0)"),
        ({"concurrency": 0}, "invalid value for 'concurrency': 0 (must be an integer ≥ 1)"),
        (
            {"on_error": "ignore"},
            "invalid value for 'on_error': 'ignore' (must be one of 'fail', 'skip', 'log', "
            "'wrap', 'propagate')",
        ),
        (
            {"priority": "urgent"},
            "invalid value for 'priority': 'urgent' (must be one of 'background', 'low', "
            "'normal', 'high', 'critical')",
        ),
        (
            {"priority": 101},
            "invalid value for 'priority': 101 (must be an integer from 0 to 100)",
        ),
        ({"lazy": "yes"}, "invalid value for 'lazy': 'yes' (must be True or False)"),
    ],
)
def test_invalid_options_name_the_module(kwargs: dict[str, Any], message: str) -> None:
    """Invalid decorator options fail at decoration time, naming the module."""

    def fetch(x: int) -> int:
        return x

    assert _reject(fetch, **kwargs) == f"module 'fetch': {message}"


def test_unknown_options() -> None:
    """Unknown option names are refused; fallback is per call."""
    with pytest.raises(ValueError, match=r"^unknown option 'retries'$"):
        normalize_options({"retries": 1})
    with pytest.raises(
        ValueError, match=r"^unknown option 'fallback'; a fallback is given per call: "
    ):
        normalize_options({"fallback": 0})


def test_module_options_are_read_only() -> None:
    """A module's options cannot be changed after registration."""
    reg = Registry()
    m = reg.register(lambda_free_identity, retry=1)
    with pytest.raises(TypeError):
        m.options["retry"] = 5  # type: ignore[index]


def test_modules_are_hashable() -> None:
    """Modules can be used as dict keys despite their options mapping."""
    reg = Registry()
    m = reg.register(lambda_free_identity, retry=1)
    assert {m: 1}[m] == 1


# --------------------------------------------------------------------------- registries


def test_registry_lookup_iteration_and_removal() -> None:
    """A registry answers get, in, len and iteration, and forgets removed modules."""
    reg = Registry()

    def f(x: int) -> int:
        return x

    a = reg.register(f, name="a")
    b = reg.register(f, name="b", namespace="ns")
    assert reg.get("a") is a
    assert reg.get("ns.b") is b
    assert reg.get("b") is None
    assert "ns.b" in reg
    assert "b" not in reg
    assert len(reg) == 2
    assert list(reg) == [a, b]
    assert reg.remove("a") is a
    assert list(reg) == [b]
    with pytest.raises(KeyError, match="no module named 'a' is registered"):
        reg.remove("a")
    assert repr(reg) == "<Registry: 1 module>"


def test_reregistering_replaces() -> None:
    """Registering the same qualified name again replaces the module (re-run notebook cells)."""
    reg = Registry()

    @reg.module
    def Score(x: int) -> int:
        return x

    first = reg.get("Score")
    before = reg.revision

    @reg.module  # type: ignore[no-redef]
    def Score(x: float) -> float:  # noqa: F811 - a re-run notebook cell
        return x

    assert len(reg) == 1
    second = reg.get("Score")
    assert second is not first
    assert str(second.signature) == "(x: Float) -> Float"  # type: ignore[union-attr]
    assert reg.revision == before + 1


def test_namespaces_include_ancestors() -> None:
    """Every namespace with a module in it or below it exists."""
    reg = Registry()

    def f(x: int) -> int:
        return x

    reg.register(f, namespace="a.b.c")
    reg.register(f, namespace="billing")
    reg.register(f, name="g")
    assert reg.namespaces() == {"a", "a.b", "a.b.c", "billing"}


def test_snapshot_is_stable() -> None:
    """A snapshot does not change when modules are registered later."""
    reg = Registry()
    reg.register(lambda_free_identity)
    snap = reg.snapshot()
    reg.register(lambda_free_identity, name="other")
    assert set(snap) == {"lambda_free_identity"}
    assert set(reg.snapshot()) == {"lambda_free_identity", "other"}


def test_concurrent_registration_loses_nothing() -> None:
    """Registrations from many threads all land."""
    reg = Registry()

    def f(x: int) -> int:
        return x

    def register_many(prefix: str) -> None:
        for i in range(50):
            reg.register(f, name=f"{prefix}{i}")

    threads = [threading.Thread(target=register_many, args=(f"t{n}_",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reg) == 400


def test_default_registry_and_module_alias() -> None:
    """`module` registers into the default registry."""

    @module(namespace="tests_default_registry")
    def probe(x: str) -> str:
        return x

    try:
        found = default_registry.get("tests_default_registry.probe")
        assert isinstance(found, Module)
        assert found.func is probe
    finally:
        default_registry.remove("tests_default_registry.probe")
    assert "tests_default_registry.probe" not in default_registry
