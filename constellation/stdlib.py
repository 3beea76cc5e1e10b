"""The standard library (language.md §9): signatures for the checker, implementations for the runtime.

Calling convention, for the runtime:

* ``fn.impl(*args)`` receives the arguments already converted to the parameter types as
  instantiated at the call (``ResolvedCall.params``): an ``Int`` passed where ``N`` became
  ``Float`` arrives as a Python ``float``. For ``list-concat`` (``rule == "concat"``) both
  arguments are converted to the call's result type ``List<lub(T, U)>``, so the elements of
  both lists already agree.
* When ``fn.needs_types`` is true (``to-string``, ``log``, ``list-sum``) the runtime also
  passes the instantiated parameter types as the keyword ``types=(t1, …)``: rendering needs the
  static type (a ``Float`` ``2.0`` shows as ``2.0``, an absent optional differs at top level),
  and ``list-sum([])`` is ``0`` or ``0.0`` depending on the element type. Without ``types``
  these functions fall back to the shape of the value.
* The result is a value of the call's result type. A failure raises
  :class:`~constellation.errors.EvaluationFailure` whose message starts with the function's
  name (``list-first: the list is empty``).
* ``map``, ``filter``, ``all`` and ``any`` (``rule == "higher-order"``) have no ``impl``:
  they take lambdas, which only the runtime can evaluate.

:func:`arithmetic` implements the operators' semantics (§4.3) for ``add`` … ``modulo``; the
runtime can use it for ``+ - * / %`` too.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, Literal, NoReturn

from constellation.errors import EvaluationFailure
from constellation.modules import Param, Signature
from constellation.types import (
    BOOLEAN,
    FLOAT,
    INT,
    STRING,
    FuncT,
    ListT,
    MapT,
    Type,
    TypeVar,
    optional,
    union,
)
from constellation.values import (
    INT_MAX,
    INT_MIN,
    equality_key,
    quote,
    render,
    values_equal,
)

STDLIB_VERSION = "1"
STDLIB_GROUPS: tuple[str, ...] = (
    "string",
    "math",
    "list",
    "collection",
    "map",
    "compare",
    "convert",
    "optional",
    "debug",
    "bool",
)

Rule = Literal["plain", "equality", "ordering", "concat", "higher-order"]

PIPELINE_LOGGER = logging.getLogger("constellation.pipeline")

T = TypeVar("T")
U = TypeVar("U")
K = TypeVar("K")
V = TypeVar("V")
N = TypeVar("N", "numeric")
O = TypeVar("O", "ordered")  # noqa: E741 - the spec's name for an ordered type


@dataclass(frozen=True, slots=True)
class LibraryFunction:
    """One standard-library function: where it lives, how it is typed, how it runs.

    ``rule`` tells the checker how to type calls beyond plain instantiation of the signature:
    ``equality`` (``eq``/``neq``: operands related by subtyping, else E013), ``ordering``
    (``lt``… : both numeric or both ``String``, else E013), ``concat`` (the result is
    ``List<lub(T, U)>``, E010 if incompatible; the declared ``List<T>`` is a placeholder),
    ``higher-order`` (the second argument is a lambda; no ``impl``).
    """

    name: str
    group: str
    signature: Signature
    rule: Rule = "plain"
    impl: Callable[..., object] | None = None
    needs_types: bool = False
    description: str = ""

    @property
    def qualified_name(self) -> str:
        return f"stdlib.{self.group}.{self.name}" if self.group else f"stdlib.{self.name}"

    @property
    def version(self) -> str:
        return STDLIB_VERSION

    def __str__(self) -> str:
        return f"{self.qualified_name}{self.signature}"


def _fail(name: str | None, reason: str) -> NoReturn:
    raise EvaluationFailure(f"{name}: {reason}" if name else reason)


# --------------------------------------------------------------------------- numbers

ArithOp = Literal["+", "-", "*", "/", "%"]


def int_result(value: int, name: str | None) -> int:
    """``value`` if it fits in 64 bits, else the failure ``<name>: integer overflow``."""
    if not INT_MIN <= value <= INT_MAX:
        _fail(name, "integer overflow")
    return value


def float_result(value: float, name: str | None) -> float:
    """``value`` if it is finite, else the failure ``<name>: float overflow``."""
    if not math.isfinite(value):
        _fail(name, "float overflow")
    return value


def arithmetic(
    op: ArithOp, a: int | float, b: int | float, *, name: str | None = None
) -> int | float:
    """``a op b`` with the semantics of language.md §4.3, failing with ``name: reason``.

    Both ``int``: exact, ``/`` truncates toward zero, ``%`` has the sign of the dividend,
    results outside 64 bits fail. Otherwise ``float``: IEEE-754, ``%`` is ``math.fmod``,
    non-finite results fail. By zero: ``division by zero`` / ``modulo by zero``.
    """
    if isinstance(a, float) or isinstance(b, float):
        x, y = float(a), float(b)
        if op == "/" and y == 0.0:
            _fail(name, "division by zero")
        if op == "%" and y == 0.0:
            _fail(name, "modulo by zero")
        match op:
            case "+":
                r = x + y
            case "-":
                r = x - y
            case "*":
                r = x * y
            case "/":
                r = x / y
            case "%":
                r = math.fmod(x, y)
        return float_result(r, name)
    match op:
        case "+":
            return int_result(a + b, name)
        case "-":
            return int_result(a - b, name)
        case "*":
            return int_result(a * b, name)
        case "/":
            if b == 0:
                _fail(name, "division by zero")
            q = abs(a) // abs(b)  # Python floors; truncate toward zero instead
            return int_result(q if (a < 0) == (b < 0) else -q, name)
        case "%":
            if b == 0:
                _fail(name, "modulo by zero")
            r = abs(a) % abs(b)
            return -r if a < 0 else r


def negation(x: int | float, *, name: str | None = None) -> int | float:
    """``-x``; ``-(-2^63)`` fails with ``integer overflow``."""
    return -x if isinstance(x, float) else int_result(-x, name)


def _binary(name: str, op: ArithOp) -> Callable[[int | float, int | float], object]:
    def impl(a: int | float, b: int | float) -> object:
        return arithmetic(op, a, b, name=name)

    return impl


def _max(a: int | float, b: int | float) -> object:
    if isinstance(a, float) or isinstance(b, float):
        return max(float(a), float(b))
    return max(a, b)


def _min(a: int | float, b: int | float) -> object:
    if isinstance(a, float) or isinstance(b, float):
        return min(float(a), float(b))
    return min(a, b)


def _abs(x: int | float) -> object:
    return abs(x) if isinstance(x, float) else int_result(abs(x), "abs")


def _negate(x: int | float) -> object:
    return negation(x, name="negate")


def _to_integer(name: str, x: int | float, convert: Callable[[float], int]) -> int:
    if isinstance(x, int):
        return x
    if not math.isfinite(x):
        _fail(name, "integer overflow")
    return int_result(convert(x), name)


def _round_half_away(x: float) -> int:
    # Decimal(x) is the exact value of the double, so halves are recognized exactly
    # (0.49999999999999994 stays 0); ROUND_HALF_UP rounds ties away from zero.
    return int(Decimal(x).to_integral_value(rounding=ROUND_HALF_UP))


def _round(x: int | float) -> int:
    return _to_integer("round", x, _round_half_away)


def _floor(x: int | float) -> int:
    return _to_integer("floor", x, math.floor)


def _ceil(x: int | float) -> int:
    return _to_integer("ceil", x, math.ceil)


# --------------------------------------------------------------------------- strings


def _split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def _replace(s: str, target: str, by: str) -> str:
    return s if target == "" else s.replace(target, by)


def _substring(s: str, start: int, end: int) -> str:
    n = len(s)
    start, end = min(max(start, 0), n), min(max(end, 0), n)
    return s[start:end] if end > start else ""


# --------------------------------------------------------------------------- lists


def _nonempty(name: str, xs: list[Any]) -> list[Any]:
    if not xs:
        _fail(name, "the list is empty")
    return xs


def _list_min(xs: list[Any]) -> object:
    return min(_nonempty("list-min", xs))


def _list_max(xs: list[Any]) -> object:
    return max(_nonempty("list-max", xs))


def _list_get(xs: list[object], i: int) -> object:
    return xs[i] if 0 <= i < len(xs) else None


def _list_sum(xs: list[int | float], *, types: Sequence[Type] | None = None) -> object:
    """Sum left to right; ``[]`` gives ``0.0`` when ``types[0]`` is ``List<Float>``, else 0."""
    floats = any(isinstance(x, float) for x in xs) or (
        types is not None and len(types) > 0 and types[0] == ListT(FLOAT)
    )
    if floats:
        total = 0.0
        for x in xs:
            total += x
        return float_result(total, "list-sum")
    # Exact: only the sum itself must fit in 64 bits, not every partial sum.
    exact = 0
    for x in xs:
        exact += int(x)
    return int_result(exact, "list-sum")


def _list_distinct(xs: list[object]) -> list[object]:
    seen: set[object] = set()
    out: list[object] = []
    for x in xs:
        key = equality_key(x)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


def _list_contains(xs: list[object], v: object) -> bool:
    return any(values_equal(x, v) for x in xs)


# --------------------------------------------------------------------------- conversions

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _to_int(x: int | float | str) -> int:
    if isinstance(x, str):
        text = x.strip()
        if not _INT_TEXT.fullmatch(text):
            _fail("to-int", f"cannot convert {quote(x)} to Int")
        # Long digit strings are out of range anyway; int() would refuse beyond 4300 digits.
        if len(text.lstrip("+-").lstrip("0")) > 19:
            _fail("to-int", "integer overflow")
        return int_result(int(text), "to-int")
    return _to_integer("to-int", x, math.trunc)


def _to_float(x: int | float | str) -> float:
    if isinstance(x, str):
        text = x.strip()
        if not _FLOAT_TEXT.fullmatch(text):
            _fail("to-float", f"cannot convert {quote(x)} to Float")
        return float_result(float(text), "to-float")
    return float(x)


def _to_string(x: object, *, types: Sequence[Type] | None = None) -> str:
    """The rendering of §6.2 at top level; a string comes back unchanged."""
    if isinstance(x, str):
        return x
    return render(x, types[0] if types else TypeVar("T"))


def _log(x: object, *, types: Sequence[Type] | None = None) -> object:
    """``x``, after logging its rendering at INFO on ``constellation.pipeline``."""
    PIPELINE_LOGGER.info("%s", render(x, types[0] if types else TypeVar("T")))
    return x


# --------------------------------------------------------------------------- the table


def _fn(
    name: str,
    group: str,
    params: Sequence[tuple[str, Type]],
    result: Type,
    impl: Callable[..., object] | None,
    description: str,
    *,
    rule: Rule = "plain",
    needs_types: bool = False,
) -> LibraryFunction:
    signature = Signature(tuple(Param(n, t) for n, t in params), result)
    return LibraryFunction(name, group, signature, rule, impl, needs_types, description)


_NUMBER_OR_TEXT = union((INT, FLOAT, STRING))

_FUNCTIONS: tuple[LibraryFunction, ...] = (
    # stdlib.string
    _fn("concat", "string", [("a", STRING), ("b", STRING)], STRING,
        lambda a, b: a + b, "a followed by b"),
    _fn("string-length", "string", [("s", STRING)], INT,
        len, "the number of code points"),
    _fn("join", "string", [("items", ListT(STRING)), ("sep", STRING)], STRING,
        lambda items, sep: sep.join(items), "the items separated by sep"),
    _fn("split", "string", [("s", STRING), ("sep", STRING)], ListT(STRING),
        _split, "the pieces between occurrences of sep; code points for an empty sep"),
    _fn("contains", "string", [("s", STRING), ("part", STRING)], BOOLEAN,
        lambda s, part: part in s, "part occurs in s"),
    _fn("starts-with", "string", [("s", STRING), ("prefix", STRING)], BOOLEAN,
        lambda s, prefix: s.startswith(prefix), "s starts with prefix"),
    _fn("ends-with", "string", [("s", STRING), ("suffix", STRING)], BOOLEAN,
        lambda s, suffix: s.endswith(suffix), "s ends with suffix"),
    _fn("index-of", "string", [("s", STRING), ("part", STRING)], INT,
        lambda s, part: s.find(part), "code-point index of the first occurrence, -1 if none"),
    _fn("replace", "string", [("s", STRING), ("target", STRING), ("by", STRING)], STRING,
        _replace, "every occurrence of target replaced by by"),
    _fn("trim", "string", [("s", STRING)], STRING,
        lambda s: s.strip(), "without leading and trailing whitespace"),
    _fn("uppercase", "string", [("s", STRING)], STRING,
        lambda s: s.upper(), "in upper case"),
    _fn("lowercase", "string", [("s", STRING)], STRING,
        lambda s: s.lower(), "in lower case"),
    _fn("substring", "string", [("s", STRING), ("start", INT), ("end", INT)], STRING,
        _substring, "code points start (inclusive) to end (exclusive), clamped"),
    # stdlib.math
    _fn("add", "math", [("a", N), ("b", N)], N, _binary("add", "+"), "a + b"),
    _fn("subtract", "math", [("a", N), ("b", N)], N, _binary("subtract", "-"), "a - b"),
    _fn("multiply", "math", [("a", N), ("b", N)], N, _binary("multiply", "*"), "a * b"),
    _fn("divide", "math", [("a", N), ("b", N)], N, _binary("divide", "/"),
        "a / b (Int: truncated toward zero)"),
    _fn("modulo", "math", [("a", N), ("b", N)], N, _binary("modulo", "%"),
        "a % b (the sign of a)"),
    _fn("max", "math", [("a", N), ("b", N)], N, _max, "the larger of a and b"),
    _fn("min", "math", [("a", N), ("b", N)], N, _min, "the smaller of a and b"),
    _fn("abs", "math", [("x", N)], N, _abs, "the absolute value"),
    _fn("negate", "math", [("x", N)], N, _negate, "-x"),
    _fn("round", "math", [("x", N)], INT, _round,
        "the nearest integer, halves away from zero"),
    _fn("floor", "math", [("x", N)], INT, _floor, "the largest integer ≤ x"),
    _fn("ceil", "math", [("x", N)], INT, _ceil, "the smallest integer ≥ x"),
    # stdlib.list
    _fn("list-length", "list", [("xs", ListT(T))], INT, len, "the number of elements"),
    _fn("list-is-empty", "list", [("xs", ListT(T))], BOOLEAN,
        lambda xs: not xs, "the list has no elements"),
    _fn("list-first", "list", [("xs", ListT(T))], T,
        lambda xs: _nonempty("list-first", xs)[0], "the first element; fails on []"),
    _fn("list-last", "list", [("xs", ListT(T))], T,
        lambda xs: _nonempty("list-last", xs)[-1], "the last element; fails on []"),
    _fn("list-get", "list", [("xs", ListT(T)), ("i", INT)], optional(T),
        _list_get, "the element at index i, absent when out of range"),
    _fn("list-sum", "list", [("xs", ListT(N))], N, _list_sum,
        "the sum; 0 (or 0.0) for []", needs_types=True),
    _fn("list-min", "list", [("xs", ListT(O))], O,
        _list_min, "the smallest element; fails on []"),
    _fn("list-max", "list", [("xs", ListT(O))], O,
        _list_max, "the largest element; fails on []"),
    _fn("list-concat", "list", [("a", ListT(T)), ("b", ListT(U))], ListT(T),
        lambda a, b: [*a, *b], "a then b", rule="concat"),
    _fn("list-contains", "list", [("xs", ListT(T)), ("v", T)], BOOLEAN,
        _list_contains, "some element equals v"),
    _fn("list-reverse", "list", [("xs", ListT(T))], ListT(T),
        lambda xs: xs[::-1], "the elements in reverse order"),
    _fn("list-sort", "list", [("xs", ListT(O))], ListT(O),
        sorted, "ascending, stable"),
    _fn("list-distinct", "list", [("xs", ListT(T))], ListT(T),
        _list_distinct, "the first occurrence of each value, in order"),
    _fn("list-take", "list", [("xs", ListT(T)), ("n", INT)], ListT(T),
        lambda xs, n: xs[: max(n, 0)], "the first n elements"),
    _fn("list-drop", "list", [("xs", ListT(T)), ("n", INT)], ListT(T),
        lambda xs, n: xs[max(n, 0) :], "all but the first n elements"),
    _fn("list-flatten", "list", [("xss", ListT(ListT(T)))], ListT(T),
        lambda xss: [x for xs in xss for x in xs], "the inner lists one after the other"),
    # stdlib.collection: evaluated by the runtime (lambdas)
    _fn("map", "collection", [("xs", ListT(T)), ("f", FuncT(T, U))], ListT(U), None,
        "f applied to every element", rule="higher-order"),
    _fn("filter", "collection", [("xs", ListT(T)), ("p", FuncT(T, BOOLEAN))], ListT(T), None,
        "the elements for which p holds", rule="higher-order"),
    _fn("all", "collection", [("xs", ListT(T)), ("p", FuncT(T, BOOLEAN))], BOOLEAN, None,
        "p holds for every element", rule="higher-order"),
    _fn("any", "collection", [("xs", ListT(T)), ("p", FuncT(T, BOOLEAN))], BOOLEAN, None,
        "p holds for some element", rule="higher-order"),
    # stdlib.map
    _fn("map-get", "map", [("m", MapT(K, V)), ("k", K)], optional(V),
        lambda m, k: m.get(k), "the value at k, absent when missing"),
    _fn("map-contains", "map", [("m", MapT(K, V)), ("k", K)], BOOLEAN,
        lambda m, k: k in m, "the map has the key k"),
    _fn("map-keys", "map", [("m", MapT(K, V))], ListT(K),
        lambda m: list(m.keys()), "the keys, in the map's order"),
    _fn("map-values", "map", [("m", MapT(K, V))], ListT(V),
        lambda m: list(m.values()), "the values, in the map's order"),
    # stdlib.compare
    _fn("eq", "compare", [("a", T), ("b", U)], BOOLEAN,
        values_equal, "a == b", rule="equality"),
    _fn("neq", "compare", [("a", T), ("b", U)], BOOLEAN,
        lambda a, b: not values_equal(a, b), "a != b", rule="equality"),
    _fn("lt", "compare", [("a", O), ("b", O)], BOOLEAN,
        lambda a, b: a < b, "a < b", rule="ordering"),
    _fn("lte", "compare", [("a", O), ("b", O)], BOOLEAN,
        lambda a, b: a <= b, "a <= b", rule="ordering"),
    _fn("gt", "compare", [("a", O), ("b", O)], BOOLEAN,
        lambda a, b: a > b, "a > b", rule="ordering"),
    _fn("gte", "compare", [("a", O), ("b", O)], BOOLEAN,
        lambda a, b: a >= b, "a >= b", rule="ordering"),
    _fn("eq-int", "compare", [("a", INT), ("b", INT)], BOOLEAN,
        lambda a, b: a == b, "a == b for Ints"),
    _fn("eq-string", "compare", [("a", STRING), ("b", STRING)], BOOLEAN,
        lambda a, b: a == b, "a == b for Strings"),
    # stdlib.convert
    _fn("to-string", "convert", [("x", T)], STRING, _to_string,
        "the text rendering of x", needs_types=True),
    _fn("to-int", "convert", [("x", _NUMBER_OR_TEXT)], INT, _to_int,
        "x as an Int (Floats truncated, Strings parsed)"),
    _fn("to-float", "convert", [("x", _NUMBER_OR_TEXT)], FLOAT, _to_float,
        "x as a Float (Strings parsed)"),
    # stdlib.optional
    _fn("is-present", "optional", [("o", optional(T))], BOOLEAN,
        lambda o: o is not None, "o has a value"),
    _fn("is-absent", "optional", [("o", optional(T))], BOOLEAN,
        lambda o: o is None, "o has no value"),
    # stdlib
    _fn("identity", "", [("x", T)], T, lambda x: x, "x itself"),
    # stdlib.debug
    _fn("log", "debug", [("x", T)], T, _log,
        "x, after logging its rendering", needs_types=True),
)  # fmt: skip

STDLIB: Mapping[str, LibraryFunction] = MappingProxyType({f.name: f for f in _FUNCTIONS})


def lookup_qualified(path: str) -> LibraryFunction | None:
    """The function named ``stdlib.<group>.<name>`` or ``stdlib.<name>``, or None."""
    parts = path.split(".")
    if parts[0] != "stdlib":
        return None
    if len(parts) == 2:
        return STDLIB.get(parts[1])
    if len(parts) == 3:
        fn = STDLIB.get(parts[2])
        return fn if fn is not None and fn.group == parts[1] and fn.group else None
    return None


def namespaces() -> frozenset[str]:
    """``stdlib`` and every ``stdlib.<group>``, including the empty ``stdlib.bool``."""
    return frozenset(("stdlib", *(f"stdlib.{g}" for g in STDLIB_GROUPS)))


def functions_in(namespace: str) -> Mapping[str, LibraryFunction]:
    """The functions directly in a namespace, by bare name (what ``use namespace`` imports).

    Every function is directly in ``stdlib`` as well as in its group.
    """
    if namespace == "stdlib":
        return STDLIB
    group = namespace.removeprefix("stdlib.")
    if group == namespace or group not in STDLIB_GROUPS:
        return MappingProxyType({})
    return MappingProxyType({f.name: f for f in _FUNCTIONS if f.group == group})
