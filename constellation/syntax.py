"""The abstract syntax tree of constellation-lang: frozen, slotted dataclasses.

Every node carries a ``span``; spans are excluded from equality so that tests can compare
whole trees built by hand (``Binary("+", Name("a"), IntLit(1))``). Tools that need identity
(the checker's side tables) key on ``id(node)``, never on value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from constellation.source import NO_SPAN, Span

#: The reserved words (language.md §1.4): never a name, but may name a record field. The
#: grammar's keyword terminals are exactly these (tests/test_parser.py checks it).
# fmt: off
RESERVED_WORDS: frozenset[str] = frozenset({
    "and", "as", "branch", "else", "false", "if", "in", "is", "match", "not", "or",
    "otherwise", "out", "true", "type", "use", "when", "with", "_",
})
# fmt: on


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# --------------------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class TypeName:
    """A built-in type name (``Int``) or an alias (``Order``)."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TypeApp:
    """A generic type applied to arguments: ``List<Int>``, ``Map<String, Int>``."""

    name: str
    args: tuple[TypeExpr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TypeField:
    name: str
    type: TypeExpr
    span: Span = _span()  # the field name


@dataclass(frozen=True, slots=True)
class RecordType:
    fields: tuple[TypeField, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class UnionType:
    """``A | B | C`` (flattened by the parser: members are never UnionType)."""

    members: tuple[TypeExpr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class MergeType:
    """``A + B`` on record types (left-associative: ``A + B + C`` is ``(A + B) + C``)."""

    left: TypeExpr
    right: TypeExpr
    span: Span = _span()


TypeExpr = TypeName | TypeApp | RecordType | UnionType | MergeType


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Name:
    """A reference to a value (input, assignment) or a local (lambda parameter, bound field)."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IntLit:
    value: int
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FloatLit:
    value: float
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class StringLit:
    """A string literal without interpolation, escapes decoded."""

    value: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class DurationLit:
    """``200ms``, ``3s``, ``1min``…: only valid as an option value (or after ``/`` in a rate)."""

    millis: int
    text: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Interpolation:
    """``"total: ${t}"``: literal text pieces (decoded) and interpolated expressions, in order.

    Empty text pieces are left out: ``"${a}${b}"`` has the parts ``(a, b)``.
    """

    parts: tuple[str | Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ListLit:
    elements: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class RecordField:
    name: str
    value: Expr
    span: Span = _span()  # the field name


@dataclass(frozen=True, slots=True)
class RecordLit:
    fields: tuple[RecordField, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field name as written in a projection or a record pattern."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Field:
    """``target.name`` (element-wise on lists of records)."""

    target: Expr
    name: str
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Project:
    """``target[a, b]`` or ``target{a, b}``."""

    target: Expr
    fields: tuple[FieldRef, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Lambda:
    """``(x) => body`` or ``(x: T) => body``; only valid as an argument of map/filter/all/any."""

    param: str
    annotation: TypeExpr | None
    body: Expr
    param_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call:
    """``f(args)`` or ``ns.path.f(args)``; ``callee`` holds the path segments as written."""

    callee: tuple[str, ...]
    args: tuple[Expr | Lambda, ...]
    callee_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Option:
    """One ``with`` option: ``retry: 2``; ``value`` is None for the bare flag ``lazy``."""

    name: str
    value: Expr | None
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class WithCall:
    """``Call(args) with option, …`` (the whole right-hand side, or parenthesized)."""

    call: Call
    options: tuple[Option, ...]
    span: Span = _span()


ArithOp = Literal["+", "-", "*", "/", "%"]
CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
BinaryOp = Literal["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"]


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic (and record merge for ``+``), comparison, ``and``, ``or``."""

    op: BinaryOp
    left: Expr
    right: Expr
    span: Span = _span()  # covers both operands; the operator's place is op_span
    op_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus."""

    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: Expr
    otherwise: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BranchArm:
    cond: Expr
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Branch:
    arms: tuple[BranchArm, ...]
    otherwise: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class When:
    """``value when cond``."""

    value: Expr
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Coalesce:
    """``left ?? right``."""

    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Wildcard:
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IsPattern:
    type: TypeExpr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class RecordPattern:
    fields: tuple[FieldRef, ...]
    span: Span = _span()


Pattern = Wildcard | IsPattern | RecordPattern


@dataclass(frozen=True, slots=True)
class MatchCase:
    pattern: Pattern
    body: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Match:
    """``match subject { pattern -> body, … }``; ``span`` starts at the ``match`` keyword."""

    subject: Expr
    cases: tuple[MatchCase, ...]
    span: Span = _span()


Expr = (
    Name
    | IntLit
    | FloatLit
    | StringLit
    | BoolLit
    | DurationLit
    | Interpolation
    | ListLit
    | RecordLit
    | Field
    | Project
    | Call
    | WithCall
    | Binary
    | Neg
    | Not
    | If
    | Branch
    | When
    | Coalesce
    | Match
)


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True, slots=True)
class TypeDecl:
    name: str
    type: TypeExpr
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Annotation:
    """``@doc("…")`` or ``@example(c)`` before an input; ``argument`` None for ``@doc()``.

    ``name`` is the bare name, without the ``@`` (``"doc"``); ``span`` covers from ``@`` to ``)``.
    """

    name: str
    argument: Expr | None
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InputDecl:
    name: str
    type: TypeExpr
    default: Expr | None = None
    annotations: tuple[Annotation, ...] = ()
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Assignment:
    name: str
    value: Expr
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class OutputDecl:
    name: str
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class UseDecl:
    """``use a.b`` or ``use a.b as x``."""

    path: tuple[str, ...]
    alias: str | None = None
    path_span: Span = _span()
    alias_span: Span = _span()
    span: Span = _span()


Declaration = TypeDecl | InputDecl | Assignment | OutputDecl | UseDecl


@dataclass(frozen=True, slots=True)
class Program:
    declarations: tuple[Declaration, ...]
    span: Span = _span()
