"""The rule callbacks: lark's reductions → syntax nodes (language.md §11, Appendix A.1).

lark's LALR(1) parser calls a method of :class:`Builder` on every reduction; the methods build
the ``constellation.syntax`` nodes bottom-up. On the way they compute each node's nesting
depth (§11), raising :class:`LimitExceeded` past the limit, and make the checks a grammar
cannot express (A.1): ``with`` only after a call, callable names, bare-name lambda parameters,
known annotations, durations only as option values. Those checks report E020 and build on,
so that one parse finds every error.

The callbacks are bound once, to the module-level parser; a parse passes them its limits
and collects their diagnostics through :func:`building`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

from lark import Token

from constellation.errors import Diagnostic
from constellation.lexer import MILLIS, LexedString, Segment, token_span
from constellation.limits import Limits
from constellation.source import NO_SPAN, Span
from constellation.syntax import (
    RESERVED_WORDS,
    Annotation,
    Assignment,
    Binary,
    BinaryOp,
    BoolLit,
    Branch,
    BranchArm,
    Call,
    Coalesce,
    Declaration,
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

__all__ = [
    "BuildContext",
    "Builder",
    "LimitExceeded",
    "Part",
    "building",
    "depth_exceeded",
    "string_value",
]

_ANNOTATIONS = ("doc", "example")


# --------------------------------------------------------------------------- parse state


class LimitExceeded(Exception):
    """Aborts the parse: a limit of §11 was exceeded (E040 is then the only diagnostic)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class BuildContext:
    """What one parse collects while lark runs the rule callbacks."""

    __slots__ = ("declarations", "diagnostics", "limits", "outputs", "strings")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.diagnostics: list[Diagnostic] = []
        self.declarations = 0
        self.outputs = 0
        # The value of every string literal, by the offset of its opening quote.
        self.strings: dict[int, Part] = {}

    def error(self, span: Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic.at("E020", span, message, hint))


# The callbacks are bound once, to the module-level parser; each parse finds its own state
# here, which keeps concurrent parses (threads, tasks) apart.
_CTX: ContextVar[BuildContext] = ContextVar("constellation_parse")


@contextmanager
def building(limits: Limits) -> Iterator[BuildContext]:
    """The state of one parse, seen by the callbacks while the ``with`` block runs."""
    context = BuildContext(limits)
    reset = _CTX.set(context)
    try:
        yield context
    finally:
        _CTX.reset(reset)


class Part:
    """A node under construction with what its parents need to know about it.

    ``depth`` is its nesting depth (§11); ``span`` its extent, parentheses included (they
    leave no node, but the parent's span covers them); ``path`` the segments of a plain
    dotted name (``a``, ``a.b.c``), the only thing that can be called.
    """

    __slots__ = ("depth", "node", "path", "span")

    def __init__(
        self, node: Any, depth: int, span: Span, path: tuple[str, ...] | None = None
    ) -> None:
        self.node = node
        self.depth = depth
        self.span = span
        self.path = path


class _Args:
    """The parenthesized argument list of a call."""

    __slots__ = ("args", "close", "opening")

    def __init__(self, opening: Token, args: list[Part], close: Token) -> None:
        self.opening = opening
        self.args = args
        self.close = close


def _extent(item: Token | Part) -> Span:
    return token_span(item) if isinstance(item, Token) else item.span


def _join(first: Token | Part, last: Token | Part) -> Span:
    """The span from the start of ``first`` to the end of ``last``."""
    start, end = _extent(first), _extent(last)
    return Span(start.line, start.column, end.end_line, end.end_column)


def _nested(node: Any, inner: int, span: Span, path: tuple[str, ...] | None = None) -> Part:
    """A node one level above its deepest part; E040 when that level is beyond the limit."""
    depth = inner + 1
    limit = _CTX.get().limits.max_nesting_depth
    if depth > limit:
        raise LimitExceeded(depth_exceeded(span, limit))
    return Part(node, depth, span, path)


def depth_exceeded(span: Span, limit: int) -> Diagnostic:
    """The E040 of a nesting depth beyond ``limit``, at the start of ``span``."""
    return Diagnostic.at(
        "E040",
        Span.point(span.line, span.column),
        f"nesting depth exceeds the limit of {limit}",
        "split the expression into several named values",
    )


def _deepest(parts: list[Part]) -> int:
    return max((part.depth for part in parts), default=0)


_DURATION_MESSAGE = "a duration is only allowed as a with-option value"


def _plain(part: Part) -> Any:
    """The node of a sub-expression that stands where a duration is not allowed (§1.5).

    A duration is accepted only as the whole value of a ``with`` option or after ``/`` in
    one (``throttle: 10/1s``); the callbacks of those places do not call this. So every
    other parent reports a duration it receives, and ``10/1s`` once it turns out not to be
    an option value.
    """
    node = part.node
    kind = type(node)
    if kind is DurationLit:
        _CTX.get().error(node.span, _DURATION_MESSAGE)
    elif kind is Binary and node.op == "/" and type(node.right) is DurationLit:
        _CTX.get().error(node.right.span, _DURATION_MESSAGE)
    return node


def _declared(span: Span) -> None:
    context = _CTX.get()
    context.declarations += 1
    limit = context.limits.max_declarations
    if context.declarations > limit:
        raise LimitExceeded(
            Diagnostic.at(
                "E040",
                Span.point(span.line, span.column),
                f"the number of declarations exceeds the limit of {limit}",
                "split the program into several pipelines",
            )
        )


def _callee_segments(target: Part) -> Iterator[tuple[str, Span]]:
    """The segments of a dotted callee with their spans, last first (iterative)."""
    node = target.node
    while type(node) is Field:
        yield node.name, node.name_span
        node = node.target
    if type(node) is Name:
        yield node.name, node.span


def _check_callee(target: Part, opening: Token) -> tuple[str, ...]:
    """The callee path of a call; E020 unless it is a plain dotted name of non-keywords."""
    if target.path is None:
        _CTX.get().error(
            token_span(opening),
            "only a function can be called, by its name",
            "call a function by name, as in 'f(x)' or 'ns.f(x)'; name intermediate results",
        )
        return ()
    for segment, span in _callee_segments(target):
        if segment in RESERVED_WORDS:
            _CTX.get().error(
                span,
                f"'{segment}' is a reserved word and cannot name a function or namespace",
            )
    return target.path


# --------------------------------------------------------------------------- callbacks


class Builder:
    """The rule callbacks: lark calls the method named after each rule (or alias) it reduces.

    Children are tokens (every terminal is named, so brackets and keywords are kept for
    positions) and the values returned for sub-rules: :class:`Part`, :class:`_Args`,
    patterns, annotations and declarations.
    """

    # ------------------------------------------------------------------ declarations

    def start(self, c: list[Any]) -> list[Declaration]:
        return c

    def interp(self, c: list[Any]) -> Part:
        return cast(Part, c[0])

    def type_decl(self, c: list[Any]) -> TypeDecl:
        span = _join(c[0], c[3])
        _declared(span)
        return TypeDecl(c[1].value, c[3].node, token_span(c[1]), span)

    def input_decl(self, c: list[Any]) -> InputDecl:
        annotations = tuple(a for a in c if isinstance(a, Annotation))
        at = len(annotations)
        name, type_ = c[at + 1], c[at + 3]
        default = _plain(c[at + 5]) if len(c) > at + 5 else None
        first = annotations[0].span if annotations else token_span(c[at])
        last = _extent(c[-1])
        span = Span(first.line, first.column, last.end_line, last.end_column)
        _declared(span)
        return InputDecl(name.value, type_.node, default, annotations, token_span(name), span)

    def annotation(self, c: list[Any]) -> Annotation:
        at, name = c[0], c[1]
        argument = _plain(c[3]) if len(c) == 5 else None
        if name.value not in _ANNOTATIONS:
            _CTX.get().error(
                _join(at, name),
                f"unknown annotation '@{name.value}'",
                "the annotations are '@doc' and '@example'",
            )
        return Annotation(name.value, argument, token_span(name), _join(at, c[-1]))

    def assignment(self, c: list[Any]) -> Assignment:
        span = _join(c[0], c[2])
        _declared(span)
        return Assignment(c[0].value, _plain(c[2]), token_span(c[0]), span)

    def output_decl(self, c: list[Any]) -> OutputDecl:
        span = _join(c[0], c[1])
        _declared(span)
        _CTX.get().outputs += 1
        return OutputDecl(c[1].value, token_span(c[1]), span)

    def use_decl(self, c: list[Any]) -> UseDecl:
        names = [t for t in c if t.type == "NAME"]
        has_alias = c[-2].type == "AS"
        path = names[:-1] if has_alias else names
        alias = names[-1] if has_alias else None
        span = _join(c[0], c[-1])
        _declared(span)
        return UseDecl(
            tuple(t.value for t in path),
            alias.value if alias is not None else None,
            _join(path[0], path[-1]),
            token_span(alias) if alias is not None else NO_SPAN,
            span,
        )

    # ------------------------------------------------------------------ with options

    def call_with(self, c: list[Any]) -> Part:
        target, with_ = c[0], c[1]
        options = [o for o in c[2:] if isinstance(o, Part)]
        if type(target.node) is not Call:
            _CTX.get().error(
                token_span(with_),
                "'with' can only follow a call",
                "options apply to a module call, as in 'F(x) with retry: 2'",
            )
            return cast(Part, target)
        node = WithCall(target.node, tuple(o.node for o in options), _join(target, options[-1]))
        return _nested(node, max(target.depth, _deepest(options)), node.span)

    def option(self, c: list[Any]) -> Part:
        name = c[0]
        if len(c) == 1:
            span = token_span(name)
            return Part(Option(name.value, None, span, span), 0, span)
        value = c[2]
        # `fallback` is an ordinary expression; every other option value may be a
        # duration or a rate (§1.5).
        node = _plain(value) if name.value == "fallback" else value.node
        span = _join(name, value)
        return Part(Option(name.value, node, token_span(name), span), value.depth, span)

    # ------------------------------------------------------------------ types

    def union_type(self, c: list[Any]) -> Part:
        parts = [p for p in c if isinstance(p, Part)]
        members: list[TypeExpr] = []
        for part in parts:
            if type(part.node) is UnionType:
                members.extend(part.node.members)
            else:
                members.append(part.node)
        span = _join(parts[0], parts[-1])
        return _nested(UnionType(tuple(members), span), _deepest(parts), span)

    def merge_type(self, c: list[Any]) -> Part:
        span = _join(c[0], c[2])
        return _nested(MergeType(c[0].node, c[2].node, span), max(c[0].depth, c[2].depth), span)

    def type_name(self, c: list[Any]) -> Part:
        span = token_span(c[0])
        return Part(TypeName(c[0].value, span), 1, span)

    def type_app(self, c: list[Any]) -> Part:
        args = [a for a in c if isinstance(a, Part)]
        span = _join(c[0], c[-1])
        return _nested(TypeApp(c[0].value, tuple(a.node for a in args), span), _deepest(args), span)

    def record_type(self, c: list[Any]) -> Part:
        fields = [f for f in c if isinstance(f, Part)]
        span = _join(c[0], c[-1])
        return _nested(RecordType(tuple(f.node for f in fields), span), _deepest(fields), span)

    def type_field(self, c: list[Any]) -> Part:
        name, type_ = c[0], c[2]
        return Part(
            TypeField(name.value, type_.node, token_span(name)), type_.depth, _join(name, type_)
        )

    def type_paren(self, c: list[Any]) -> Part:
        return _nested(c[1].node, c[1].depth, _join(c[0], c[2]))

    # ------------------------------------------------------------------ operators

    def if_expr(self, c: list[Any]) -> Part:
        cond, then, otherwise = c[2], c[4], c[6]
        span = _join(c[0], otherwise)
        node = If(_plain(cond), _plain(then), _plain(otherwise), span)
        return _nested(node, max(cond.depth, then.depth, otherwise.depth), span)

    def coalesce(self, c: list[Any]) -> Part:
        left, right = c[0], c[2]
        span = _join(left, right)
        node = Coalesce(_plain(left), _plain(right), span)
        return _nested(node, max(left.depth, right.depth), span)

    def when(self, c: list[Any]) -> Part:
        value, cond = c[0], c[2]
        span = _join(value, cond)
        return _nested(When(_plain(value), _plain(cond), span), max(value.depth, cond.depth), span)

    def binary(self, c: list[Any]) -> Part:
        left, op, right = c[0], c[1], c[2]
        span = _join(left, right)
        # `10/1s` may still turn out to be an option value: its parent decides (_plain).
        deferred = op.value == "/" and type(right.node) is DurationLit
        node = Binary(
            cast(BinaryOp, op.value),
            _plain(left),
            right.node if deferred else _plain(right),
            span,
            token_span(op),
        )
        return _nested(node, max(left.depth, right.depth), span)

    def not_op(self, c: list[Any]) -> Part:
        span = _join(c[0], c[1])
        return _nested(Not(_plain(c[1]), span), c[1].depth, span)

    def neg(self, c: list[Any]) -> Part:
        span = _join(c[0], c[1])
        return _nested(Neg(_plain(c[1]), span), c[1].depth, span)

    # ------------------------------------------------------------------ postfix

    def field(self, c: list[Any]) -> Part:
        target, name = c[0], c[2]
        span = _join(target, name)
        node = Field(_plain(target), name.value, token_span(name), span)
        path = (*target.path, name.value) if target.path is not None else None
        return _nested(node, target.depth, span, path)

    def project(self, c: list[Any]) -> Part:
        target = c[0]
        fields = tuple(FieldRef(t.value, token_span(t)) for t in c[2:-1] if t.type != "COMMA")
        span = _join(target, c[-1])
        return _nested(Project(_plain(target), fields, span), target.depth, span)

    def call(self, c: list[Any]) -> Part:
        target, args = c[0], c[1]
        callee = _check_callee(target, args.opening)
        return _call(callee, target.span, args, _join(target, args.close))

    def call_args(self, c: list[Any]) -> _Args:
        return _Args(c[0], [a for a in c[1:-1] if isinstance(a, Part)], c[-1])

    def lambda_expr(self, c: list[Any]) -> Part:
        body = c[-1]
        annotation: TypeExpr | None = None
        if len(c) == 7:
            param, param_span = c[1].value, token_span(c[1])
            annotation = c[3].node
        else:
            inner = c[1]
            param_span = inner.span
            if type(inner.node) is Name and inner.span == inner.node.span:
                param = inner.node.name
            else:
                param = ""
                _CTX.get().error(
                    inner.span,
                    "a lambda parameter must be a name",
                    "write '(x) => …' or '(x: Type) => …'",
                )
        span = _join(c[0], body)
        return _nested(Lambda(param, annotation, _plain(body), param_span, span), body.depth, span)

    # ------------------------------------------------------------------ primaries

    def var(self, c: list[Any]) -> Part:
        span = token_span(c[0])
        return Part(Name(c[0].value, span), 1, span, (c[0].value,))

    def int_lit(self, c: list[Any]) -> Part:
        span = token_span(c[0])
        return Part(IntLit(int(c[0].value), span), 1, span)

    def float_lit(self, c: list[Any]) -> Part:
        span = token_span(c[0])
        return Part(FloatLit(float(c[0].value), span), 1, span)

    def duration_lit(self, c: list[Any]) -> Part:
        text: str = c[0].value
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        span = token_span(c[0])
        return Part(DurationLit(int(digits) * MILLIS[text[len(digits) :]], text, span), 1, span)

    def string_lit(self, c: list[Any]) -> Part:
        return _CTX.get().strings[c[0].start_pos]

    def true_lit(self, c: list[Any]) -> Part:
        span = token_span(c[0])
        return Part(BoolLit(True, span), 1, span)

    def false_lit(self, c: list[Any]) -> Part:
        span = token_span(c[0])
        return Part(BoolLit(False, span), 1, span)

    def paren(self, c: list[Any]) -> Part:
        # No node for the parentheses, but a level of depth (§11) and a wider extent.
        return _nested(c[1].node, c[1].depth, _join(c[0], c[2]))

    def list_lit(self, c: list[Any]) -> Part:
        elements = [e for e in c if isinstance(e, Part)]
        span = _join(c[0], c[-1])
        node = ListLit(tuple(_plain(e) for e in elements), span)
        return _nested(node, _deepest(elements), span)

    def record_lit(self, c: list[Any]) -> Part:
        fields = [f for f in c if isinstance(f, Part)]
        span = _join(c[0], c[-1])
        return _nested(RecordLit(tuple(f.node for f in fields), span), _deepest(fields), span)

    def rec_field(self, c: list[Any]) -> Part:
        name, value = c[0], c[2]
        node = RecordField(name.value, _plain(value), token_span(name))
        return Part(node, value.depth, _join(name, value))

    def branch_expr(self, c: list[Any]) -> Part:
        arms = [a for a in c if isinstance(a, Part) and type(a.node) is BranchArm]
        otherwise = next(x for x in reversed(c) if isinstance(x, Part))
        span = _join(c[0], c[-1])
        node = Branch(tuple(a.node for a in arms), _plain(otherwise), span)
        return _nested(node, max(_deepest(arms), otherwise.depth), span)

    def branch_arm(self, c: list[Any]) -> Part:
        cond, value = c[0], c[2]
        span = _join(cond, value)
        return Part(
            BranchArm(_plain(cond), _plain(value), span), max(cond.depth, value.depth), span
        )

    def match_expr(self, c: list[Any]) -> Part:
        subject = c[1]
        cases = [x for x in c[3:] if isinstance(x, Part)]
        span = _join(c[0], c[-1])
        node = Match(_plain(subject), tuple(x.node for x in cases), span)
        return _nested(node, max(subject.depth, _deepest(cases)), span)

    def match_subject(self, c: list[Any]) -> Part:
        # NAME ("." field_name)* call_args?: built like the postfix rules would.
        args = c[-1] if isinstance(c[-1], _Args) else None
        names = [t for t in (c[:-1] if args is not None else c) if t.type != "DOT"]
        first = token_span(names[0])
        part = Part(Name(names[0].value, first), 1, first, (names[0].value,))
        for name in names[1:]:
            span = _join(part, name)
            assert part.path is not None
            node = Field(part.node, name.value, token_span(name), span)
            part = _nested(node, part.depth, span, (*part.path, name.value))
        if args is None:
            return part
        callee = _check_callee(part, args.opening)
        return _call(callee, part.span, args, _join(part, args.close))

    def match_case(self, c: list[Any]) -> Part:
        pattern, body = c[0], c[2]
        span = Span(
            pattern.span.line, pattern.span.column, body.span.end_line, body.span.end_column
        )
        return Part(MatchCase(pattern, _plain(body), span), body.depth, span)

    def wildcard(self, c: list[Any]) -> Wildcard:
        return Wildcard(token_span(c[0]))

    def is_pattern(self, c: list[Any]) -> IsPattern:
        return IsPattern(c[1].node, _join(c[0], c[1]))

    def record_pattern(self, c: list[Any]) -> RecordPattern:
        fields = tuple(FieldRef(t.value, token_span(t)) for t in c[1:-1] if t.type != "COMMA")
        return RecordPattern(fields, _join(c[0], c[-1]))


def _call(callee: tuple[str, ...], callee_span: Span, args: _Args, span: Span) -> Part:
    node = Call(callee, tuple(_plain(a) for a in args.args), callee_span, span)
    return _nested(node, _deepest(args.args), span)


def string_value(string: LexedString, parse_piece: Callable[[Segment], Part | None]) -> Part:
    """The node of a string literal: a StringLit, or an Interpolation of parsed pieces.

    ``parse_piece`` parses the code of one ``${…}`` (None after a syntax error, which it
    reports); a literal with a broken piece is an empty StringLit, as the parse fails anyway.
    """
    token = string.token
    span = token_span(token)
    parts: list[str | Expr] = []
    pieces: list[Part] = []
    failed = not string.terminated
    for part in string.parts:
        if isinstance(part, str):
            parts.append(part)
            continue
        piece = None if part.empty else parse_piece(part)
        if piece is None:
            failed = True
            continue
        parts.append(_plain(piece))
        pieces.append(piece)
    if failed:
        return Part(StringLit("", span), 1, span)
    if not pieces:
        return Part(StringLit("".join(cast(list[str], parts)), span), 1, span)
    return _nested(Interpolation(tuple(parts), span), _deepest(pieces), span)
