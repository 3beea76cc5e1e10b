"""The compiled pipeline: a DAG of nodes whose expressions are fully resolved and explicit.

The compiler (``compiler.py``) builds a :class:`Pipeline` from a checked program; the runtime
executes it. Everything here is a frozen, slotted value. The stored JSON image, the canonical
form and the hashes live in ``image.py``; the pictures (DOT, the clients' DAG JSON) in
``dot.py``; :class:`Pipeline` offers both as methods.

Expressions
    :class:`Const` ``Ref`` (the value of another node) ``Local`` (a lambda parameter or a match
    subject, by binder level) ``Convert`` ``Arith`` ``Neg`` ``Compare`` ``And`` ``Or`` ``Not``
    ``Merge`` ``GetField`` ``ProjectFields`` ``MakeRecord`` ``MakeList`` ``Interpolate``
    ``IfExpr`` ``BranchExpr`` ``WhenExpr`` ``CoalesceExpr`` ``MatchExpr`` ``HigherOrder``
    ``CallExpr``. Conditional positions (language.md §5.2: ``if``/``branch`` arms, later branch
    conditions, ``when`` values, right sides of ``??``/``and``/``or``, match case bodies,
    lambda bodies, fallbacks) hold sub-expressions the evaluator evaluates only when selected
    (:func:`children`, :func:`dependencies`).

Binder levels
    Inside one node's expression, binders (lambdas and matches) are numbered from the outside
    in: a binder at nesting depth ``d`` has level ``d + 1``; ``Local(k)`` is the value bound by
    the enclosing binder of level ``k`` (a lambda's element, a match's subject). A field bound
    by a record pattern is ``GetField(Local(k), name, 0)``.

Nodes
    One ``input`` node per declared input, one ``value`` or ``call`` node per *needed*
    assignment (unused assignments are not scheduled, see below), and one ``call`` node per
    module call that is not inside a lambda body and does not use a binder's value: it is
    hoisted out of its parent expression, which refers to it by ``Ref``. An assignment whose
    whole right-hand side is such a call *is* the call node (id = the assignment's name);
    other hoisted calls get the id ``<declaration>~<k>``, ``k`` counting the declaration's
    hoisted calls from 1 in source order (pre-order, left to right). ``deps`` are the nodes a
    node always needs, ``lazy_deps`` those needed only when a conditional position selects
    them. ``Pipeline.nodes`` is in a topological order (dependencies first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias, cast

from constellation.errors import Diagnostic
from constellation.stack import recursion_room
from constellation.types import Type

#: The deepest expression :meth:`Pipeline.from_json` accepts (compiled programs stay far below:
#: about twice the parser's nesting limit at worst).
MAX_EXPR_DEPTH: Final = 4096

Scalar: TypeAlias = int | float | str | bool | None
ArithOp = Literal["+", "-", "*", "/", "%"]
CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
MergeShape = Literal["record", "list-record", "record-list", "list-list"]
HigherKind = Literal["map", "filter", "all", "any"]
CallKind = Literal["module", "library"]
Backoff = Literal["fixed", "linear", "exponential"]
OnError = Literal["fail", "skip", "log", "wrap"]
NodeKind = Literal["input", "value", "call"]

ARITH_OPS: Final = ("+", "-", "*", "/", "%")
COMPARE_OPS: Final = ("==", "!=", "<", "<=", ">", ">=")
MERGE_SHAPES: Final = ("record", "list-record", "record-list", "list-list")
HIGHER_KINDS: Final = ("map", "filter", "all", "any")
ON_ERRORS: Final = ("fail", "skip", "log", "wrap")  # after normalization (no propagate)


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True, eq=False)
class Const:
    """A literal value. Equality is exact: ``Const(1)``, ``Const(1.0)`` and ``Const(True)``
    differ (Python's ``==`` would not tell them apart)."""

    value: Scalar

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Const) or type(self.value) is not type(other.value):
            return False
        if isinstance(self.value, float):
            return repr(self.value) == repr(other.value)  # -0.0 is not 0.0
        return self.value == other.value

    def __hash__(self) -> int:
        return hash((type(self.value), repr(self.value)))


@dataclass(frozen=True, slots=True)
class Ref:
    """The value of another node of the DAG."""

    node: str


@dataclass(frozen=True, slots=True)
class Local:
    """The value bound by the enclosing binder of this level (lambda element, match subject)."""

    level: int


@dataclass(frozen=True, slots=True)
class Convert:
    """``expr`` (static type ``source``) made a value of ``to``: Int → Float, records narrowed
    and put in ``to``'s field order, deep inside lists, maps, optionals and unions.

    The compiler inserts it only where the value changes
    (:func:`~constellation.values.needs_conversion`); :func:`~constellation.values.converter`
    gives the function that performs it.
    """

    expr: Expr
    source: Type
    to: Type


@dataclass(frozen=True, slots=True)
class Arith:
    """``left op right``; ``floating`` selects Float semantics (both operands are Float values:
    the compiler converts Int operands), else exact Int semantics (language.md §4.3)."""

    op: ArithOp
    left: Expr
    right: Expr
    floating: bool


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    floating: bool


@dataclass(frozen=True, slots=True)
class Compare:
    """Deep structural equality or ordering (language.md §4.5); no operand is converted."""

    op: CompareOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class And:
    """``left and right``; ``right`` is conditional (evaluated only when ``left`` is true)."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Or:
    """``left or right``; ``right`` is conditional (evaluated only when ``left`` is false)."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class Merge:
    """``+`` on records (language.md §4.4); ``shape`` names the operands: ``record`` (record +
    record), ``list-record``, ``record-list``, ``list-list`` (element-wise, equal lengths)."""

    left: Expr
    right: Expr
    shape: MergeShape


@dataclass(frozen=True, slots=True)
class GetField:
    """``target.name``, element-wise through ``depth`` list layers."""

    target: Expr
    name: str
    depth: int = 0


@dataclass(frozen=True, slots=True)
class ProjectFields:
    """``target[names…]``: a record of exactly these fields, element-wise through ``depth``."""

    target: Expr
    names: tuple[str, ...]
    depth: int = 0


@dataclass(frozen=True, slots=True)
class MakeRecord:
    names: tuple[str, ...]
    values: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class MakeList:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Interpolate:
    """``strings[0] + render(exprs[0]) + strings[1] + … + strings[-1]``.

    ``len(strings) == len(exprs) + 1``; ``types[i]`` is the static type of ``exprs[i]``, which
    rendering needs (language.md §6.2).
    """

    strings: tuple[str, ...]
    exprs: tuple[Expr, ...]
    types: tuple[Type, ...]


@dataclass(frozen=True, slots=True)
class IfExpr:
    cond: Expr
    then: Expr
    otherwise: Expr


@dataclass(frozen=True, slots=True)
class BranchExpr:
    """``branch { c1 -> v1, …, otherwise -> e }``: ``arms`` are (condition, value) pairs."""

    arms: tuple[tuple[Expr, Expr], ...]
    otherwise: Expr


@dataclass(frozen=True, slots=True)
class WhenExpr:
    """``value when cond``: absent (None) when ``cond`` is false."""

    value: Expr
    cond: Expr


@dataclass(frozen=True, slots=True)
class CoalesceExpr:
    """``left ?? right``: ``left``'s value unless it is absent, else ``right``."""

    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class AnyPattern:
    """``_``."""


@dataclass(frozen=True, slots=True)
class IsPattern:
    """``is T``: the subject conforms to ``type`` (language.md §4.10)."""

    type: Type


@dataclass(frozen=True, slots=True)
class FieldsPattern:
    """``{f1, …}``: the subject is a record having all these fields."""

    names: tuple[str, ...]


Pattern = AnyPattern | IsPattern | FieldsPattern


@dataclass(frozen=True, slots=True)
class MatchCase:
    pattern: Pattern
    body: Expr


@dataclass(frozen=True, slots=True)
class MatchExpr:
    """Evaluate ``subject``, bind it at ``level``, evaluate the first matching case's body."""

    subject: Expr
    level: int
    cases: tuple[MatchCase, ...]


@dataclass(frozen=True, slots=True)
class HigherOrder:
    """``map``/``filter``/``all``/``any`` of ``items`` with ``body`` (each element bound at
    ``level``)."""

    kind: HigherKind
    items: Expr
    level: int
    body: Expr


@dataclass(frozen=True, slots=True)
class Options:
    """A call's effective ``with`` options, normalized (language.md §8.2, §12).

    Durations are milliseconds, ``throttle`` is (count, milliseconds), ``priority`` 0–100.
    Defaults are the language's; ``plain`` is true when no option changes how the call runs
    (only ``priority``, ``lazy`` and ``cache_backend`` may be set), so the runtime can call it
    directly.
    """

    retry: int = 0
    timeout: int | None = None
    delay: int = 0
    backoff: Backoff = "fixed"
    fallback: Expr | None = None
    cache: int | None = None
    cache_backend: str = "memory"
    throttle: tuple[int, int] | None = None
    concurrency: int | None = None
    on_error: OnError = "fail"
    priority: int = 50
    lazy: bool = False
    plain: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        plain = (
            self.retry == 0
            and self.timeout is None
            and self.fallback is None
            and self.cache is None
            and self.throttle is None
            and self.concurrency is None
            and self.on_error == "fail"
        )
        object.__setattr__(self, "plain", plain)

    @property
    def wrap(self) -> bool:
        """``on_error: wrap``: the call's value is ``{ok, value, error}``."""
        return self.on_error == "wrap"

    @staticmethod
    def from_normalized(values: Mapping[str, object], fallback: Expr | None = None) -> Options:
        """Options from normalized values by name (the checker's and the registry's form)."""
        if not values and fallback is None:
            return DEFAULT_OPTIONS
        unknown = [n for n in values if n != "fallback" and n not in _OPTION_FIELDS]
        if unknown:
            raise ValueError(f"unknown option {unknown[0]!r}")
        throttle = cast("tuple[int, int] | list[int] | None", values.get("throttle"))
        return Options(
            retry=cast(int, values.get("retry", 0)),
            timeout=cast("int | None", values.get("timeout")),
            delay=cast(int, values.get("delay", 0)),
            backoff=cast(Backoff, values.get("backoff", "fixed")),
            fallback=fallback,
            cache=cast("int | None", values.get("cache")),
            cache_backend=cast(str, values.get("cache_backend", "memory")),
            throttle=None if throttle is None else (throttle[0], throttle[1]),
            concurrency=cast("int | None", values.get("concurrency")),
            on_error=cast(OnError, values.get("on_error", "fail")),
            priority=cast(int, values.get("priority", 50)),
            lazy=cast(bool, values.get("lazy", False)),
        )

    def changed(self) -> dict[str, object]:
        """The options that differ from the language defaults (``fallback`` excluded)."""
        out: dict[str, object] = {}
        for name in _OPTION_FIELDS:
            value = getattr(self, name)
            if value != _DEFAULT_VALUES[name]:
                out[name] = value
        return out


_OPTION_FIELDS: Final = (
    "backoff",
    "cache",
    "cache_backend",
    "concurrency",
    "delay",
    "lazy",
    "on_error",
    "priority",
    "retry",
    "throttle",
    "timeout",
)
_DEFAULT_VALUES: Final[dict[str, object]] = {
    "retry": 0,
    "timeout": None,
    "delay": 0,
    "backoff": "fixed",
    "cache": None,
    "cache_backend": "memory",
    "throttle": None,
    "concurrency": None,
    "on_error": "fail",
    "priority": 50,
    "lazy": False,
}
DEFAULT_OPTIONS: Final = Options()


@dataclass(frozen=True, slots=True)
class CallExpr:
    """A call of a module or a standard-library function, fully resolved.

    ``args`` are already converted to ``params``; ``result`` is the function's result type at
    this call before ``on_error: wrap`` (the value is ``{ok, value, error}`` when
    ``options.wrap``). ``param_names`` label DAG edges and take no part in the hash;
    ``line``/``column`` are where the call starts in the source (for failures).
    """

    function: str
    kind: CallKind
    version: str
    args: tuple[Expr, ...]
    params: tuple[Type, ...]
    result: Type
    options: Options = DEFAULT_OPTIONS
    line: int = 0
    column: int = 0
    param_names: tuple[str, ...] = ()

    @property
    def wrap(self) -> bool:
        return self.options.on_error == "wrap"

    @property
    def name(self) -> str:
        """The function's own name (the last segment of its qualified name)."""
        return self.function.rsplit(".", 1)[-1]


Expr = (
    Const
    | Ref
    | Local
    | Convert
    | Arith
    | Neg
    | Compare
    | And
    | Or
    | Not
    | Merge
    | GetField
    | ProjectFields
    | MakeRecord
    | MakeList
    | Interpolate
    | IfExpr
    | BranchExpr
    | WhenExpr
    | CoalesceExpr
    | MatchExpr
    | HigherOrder
    | CallExpr
)


# --------------------------------------------------------------------------- the DAG


@dataclass(frozen=True, slots=True)
class Node:
    """One node of the DAG: an input, a computed value, or a module call.

    ``expr`` is None for inputs and a :class:`CallExpr` for ``call`` nodes. ``name`` is the
    declaration's name (None for hoisted calls). ``line``/``column`` locate the declaration's
    name, or the call for hoisted calls.
    """

    id: str
    kind: NodeKind
    name: str | None
    expr: Expr | None
    type: Type
    deps: tuple[str, ...] = ()
    lazy_deps: tuple[str, ...] = ()
    line: int = 0
    column: int = 0
    label: str = ""

    @property
    def call(self) -> CallExpr | None:
        """The call of a ``call`` node (None for other nodes)."""
        if self.kind == "call" and isinstance(self.expr, CallExpr):
            return self.expr
        return None


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A declared input: type, default (a value of the type), ``@doc`` and ``@example``s."""

    name: str
    type: Type
    has_default: bool = False
    default: object = None
    doc: str | None = None
    examples: tuple[object, ...] = ()


@dataclass(frozen=True, slots=True)
class UnusedAssignment:
    """An assignment no output needs: never scheduled, compiled only for the structural hash.

    Its expression keeps module calls inline (nothing is hoisted out of it).
    """

    name: str
    type: Type
    expr: Expr


@dataclass(frozen=True, slots=True, eq=False)
class Pipeline:
    """A compiled pipeline: the DAG, the interface, the identity and the source text.

    Build it with :meth:`build` (which computes both hashes) or :meth:`from_json`. The index
    fields after ``unused`` are derived once at construction for the runtime: positions by
    node id, and per node (aligned with ``nodes``) the positions of its strict deps, its lazy
    deps and its dependants.
    """

    nodes: tuple[Node, ...]
    inputs: tuple[InputSpec, ...]
    outputs: tuple[tuple[str, str], ...]
    structural_hash: str
    syntactic_hash: str
    source: str
    unused: tuple[UnusedAssignment, ...] = ()
    #: The compiler's warnings (not part of the identity; a stored image loads without them).
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False, repr=False)
    index: Mapping[str, int] = field(init=False, compare=False, repr=False)
    dep_index: tuple[tuple[int, ...], ...] = field(init=False, compare=False, repr=False)
    lazy_dep_index: tuple[tuple[int, ...], ...] = field(init=False, compare=False, repr=False)
    dependants: tuple[tuple[int, ...], ...] = field(init=False, compare=False, repr=False)
    input_specs: Mapping[str, InputSpec] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for i, node in enumerate(self.nodes):
            if node.id in index:
                raise ValueError(f"duplicate node id {node.id!r}")
            index[node.id] = i
        try:
            deps = tuple(tuple(index[d] for d in node.deps) for node in self.nodes)
            lazy = tuple(tuple(index[d] for d in node.lazy_deps) for node in self.nodes)
        except KeyError as err:
            raise ValueError(f"a node depends on the unknown node {err.args[0]!r}") from None
        users: list[list[int]] = [[] for _ in self.nodes]
        for i in range(len(self.nodes)):
            for d in deps[i]:
                users[d].append(i)
            for d in lazy[i]:
                users[d].append(i)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "dep_index", deps)
        object.__setattr__(self, "lazy_dep_index", lazy)
        object.__setattr__(self, "dependants", tuple(tuple(u) for u in users))
        object.__setattr__(self, "input_specs", {spec.name: spec for spec in self.inputs})

    @staticmethod
    def build(
        nodes: tuple[Node, ...],
        inputs: tuple[InputSpec, ...],
        outputs: tuple[tuple[str, str], ...],
        source: str,
        unused: tuple[UnusedAssignment, ...] = (),
        warnings: tuple[Diagnostic, ...] = (),
    ) -> Pipeline:
        """A pipeline with its structural and syntactic hashes computed (see ``image.py``)."""
        from constellation.image import structural_hash, syntactic_hash

        structural = structural_hash(nodes, inputs, outputs, unused)
        return Pipeline(
            nodes, inputs, outputs, structural, syntactic_hash(source), source, unused, warnings
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pipeline):
            return NotImplemented
        # Deep expressions compare recursively (dataclass __eq__ through tuples).
        with recursion_room(ROOM_FRAMES):
            return (
                self.structural_hash == other.structural_hash
                and self.syntactic_hash == other.syntactic_hash
                and self.source == other.source
                and self.outputs == other.outputs
                and self.inputs == other.inputs
                and self.nodes == other.nodes
                and self.unused == other.unused
            )

    def __hash__(self) -> int:
        return hash((self.structural_hash, self.syntactic_hash))

    # -- lookups

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError if there is none)."""
        return self.nodes[self.index[node_id]]

    @property
    def output_types(self) -> dict[str, Type]:
        """Output name → type, in declaration order."""
        return {name: self.nodes[self.index[nid]].type for name, nid in self.outputs}

    # -- the stored image (image.py) and pictures (dot.py); imported here, not at the top,
    # because those modules build on this one.

    def to_json(self) -> dict[str, object]:
        """The stored form: plain JSON data that :meth:`from_json` loads back exactly."""
        from constellation.image import to_json

        return to_json(self)

    @staticmethod
    def from_json(data: object) -> Pipeline:
        """Load :meth:`to_json` output, validating everything; ValueError says what is wrong.

        Never parses or checks source text; a tampered image is refused rather than executed
        (see :func:`constellation.image.from_json`).
        """
        from constellation.image import from_json

        return from_json(data)

    def dag_json(self) -> dict[str, object]:
        """The DAG for clients: ``{"nodes": [...], "edges": [...]}`` (see ``dot.py``)."""
        from constellation.dot import dag_json

        return dag_json(self)

    def to_dot(self) -> str:
        """Graphviz DOT of the DAG (see ``dot.py``)."""
        from constellation.dot import to_dot

        return to_dot(self)


# --------------------------------------------------------------------------- dependencies


def children(expr: Expr) -> tuple[tuple[Expr, bool], ...]:
    """The direct sub-expressions of ``expr``, each with whether it is in a strict position
    (always evaluated when ``expr`` is) rather than a conditional one (language.md §5.2)."""
    return _CHILDREN[expr.__class__](expr)


def _branch_children(e: BranchExpr) -> tuple[tuple[Expr, bool], ...]:
    out: list[tuple[Expr, bool]] = []
    for i, (c, v) in enumerate(e.arms):
        out.append((c, i == 0))
        out.append((v, False))
    # With no arms, ``otherwise`` is always selected.
    out.append((e.otherwise, not e.arms))
    return tuple(out)


def _call_children(e: CallExpr) -> tuple[tuple[Expr, bool], ...]:
    out = [(x, True) for x in e.args]
    if e.options.fallback is not None:
        out.append((e.options.fallback, False))
    return tuple(out)


_NONE: Final[tuple[tuple[Expr, bool], ...]] = ()
_CHILDREN: Final[dict[type, Callable[[Any], tuple[tuple[Expr, bool], ...]]]] = {
    Const: lambda e: _NONE,
    Ref: lambda e: _NONE,
    Local: lambda e: _NONE,
    Convert: lambda e: ((e.expr, True),),
    Neg: lambda e: ((e.operand, True),),
    Not: lambda e: ((e.operand, True),),
    GetField: lambda e: ((e.target, True),),
    ProjectFields: lambda e: ((e.target, True),),
    Arith: lambda e: ((e.left, True), (e.right, True)),
    Compare: lambda e: ((e.left, True), (e.right, True)),
    Merge: lambda e: ((e.left, True), (e.right, True)),
    And: lambda e: ((e.left, True), (e.right, False)),
    Or: lambda e: ((e.left, True), (e.right, False)),
    CoalesceExpr: lambda e: ((e.left, True), (e.right, False)),
    MakeRecord: lambda e: tuple((x, True) for x in e.values),
    MakeList: lambda e: tuple((x, True) for x in e.items),
    Interpolate: lambda e: tuple((x, True) for x in e.exprs),
    IfExpr: lambda e: ((e.cond, True), (e.then, False), (e.otherwise, False)),
    BranchExpr: _branch_children,
    WhenExpr: lambda e: ((e.cond, True), (e.value, False)),
    MatchExpr: lambda e: ((e.subject, True), *((c.body, False) for c in e.cases)),
    HigherOrder: lambda e: ((e.items, True), (e.body, False)),
    CallExpr: _call_children,
}


def dependencies(expr: Expr) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The node ids ``expr`` refers to: (strict, lazy), each in order of first appearance.

    Strict ones are needed whenever ``expr`` is evaluated; lazy ones only when a conditional
    position selects them. A node referred to from both kinds of position is strict.
    """
    strict: dict[str, None] = {}
    lazy: dict[str, None] = {}
    stack: list[tuple[Expr, bool]] = [(expr, True)]
    while stack:
        e, is_strict = stack.pop()
        if isinstance(e, Ref):
            (strict if is_strict else lazy)[e.node] = None
            continue
        kids = _CHILDREN[e.__class__](e)
        for i in range(len(kids) - 1, -1, -1):
            x, s = kids[i]
            stack.append((x, is_strict and s))
    return tuple(strict), tuple(n for n in lazy if n not in strict)


# --------------------------------------------------------------------------- recursion

#: Frames enough to walk the deepest expression a stored image may hold.
ROOM_FRAMES: Final = MAX_EXPR_DEPTH * 4 + 2000


__all__ = [
    "MAX_EXPR_DEPTH",
    "And",
    "AnyPattern",
    "Arith",
    "BranchExpr",
    "CallExpr",
    "CoalesceExpr",
    "Compare",
    "Const",
    "Convert",
    "Expr",
    "FieldsPattern",
    "GetField",
    "HigherOrder",
    "IfExpr",
    "InputSpec",
    "Interpolate",
    "IsPattern",
    "Local",
    "MakeList",
    "MakeRecord",
    "MatchCase",
    "MatchExpr",
    "Merge",
    "Neg",
    "Node",
    "Not",
    "Options",
    "Or",
    "Pattern",
    "Pipeline",
    "ProjectFields",
    "Ref",
    "UnusedAssignment",
    "WhenExpr",
    "children",
    "dependencies",
]
