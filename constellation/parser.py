"""The parser: source text → syntax tree (language.md §1–§4, §8.1, §11, Appendix A).

``parse(source)`` returns ``(program, ())`` or ``(None, diagnostics)`` with every syntax
error (E020) found, sorted by position, or with the single E040 of an exceeded limit.

How it works: the lexer (``constellation.lexer``) turns the text into tokens; lark's LALR(1)
parser, built once from ``grammar.lark``, consumes them and calls the rule callbacks of
:class:`_Builder` on every reduction, which build the ``constellation.syntax`` nodes bottom-up.
The callbacks also compute each node's nesting depth (§11) and make the checks a grammar
cannot express (A.1). Nothing here recurses over the tree, so depth is enforced before any
recursive pass can run, and 100 000 nested brackets cost a linear scan and an early E040.

After a syntax error the parser resynchronizes at the next line that starts a declaration
and parses on from there, to report further errors in one run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

import lark
from lark import Lark, Token
from lark.common import LexerConf
from lark.exceptions import LarkError, UnexpectedInput
from lark.lexer import Lexer, LexerState, PatternStr
from lark.parsers.lalr_interactive_parser import InteractiveParser

from constellation.errors import Diagnostic
from constellation.lexer import INVALID, MILLIS, LexedString, Segment, Vocabulary, tokenize
from constellation.limits import DEFAULT_LIMITS, Limits
from constellation.source import NO_SPAN, Source, Span
from constellation.syntax import (
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

__all__ = ["GRAMMAR_PATH", "parse"]

#: The grammar file, the single source of truth for the syntax.
GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")

_ANNOTATIONS = ("doc", "example")


# --------------------------------------------------------------------------- parse state


class _LimitExceeded(Exception):
    """Aborts the parse: a limit of §11 was exceeded (E040 is then the only diagnostic)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Context:
    """What one call of :func:`parse` collects while lark runs the rule callbacks."""

    __slots__ = ("declarations", "diagnostics", "limits", "outputs", "strings")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.diagnostics: list[Diagnostic] = []
        self.declarations = 0
        self.outputs = 0
        # The value of every string literal, by the offset of its opening quote.
        self.strings: dict[int, _E] = {}

    def error(self, span: Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic.at("E020", span, message, hint))


# The callbacks are bound once, to the module-level parser; each parse finds its own state
# here, which keeps concurrent parses (threads, tasks) apart.
_CTX: ContextVar[_Context] = ContextVar("constellation_parse")


class _E:
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

    def __init__(self, opening: Token, args: list[_E], close: Token) -> None:
        self.opening = opening
        self.args = args
        self.close = close


def _span(token: Token) -> Span:
    # Our tokens always have positions; `Any` spares four `cast` calls on a hot path.
    t: Any = token
    return Span(t.line, t.column, t.end_line, t.end_column)


def _extent(item: Token | _E) -> Span:
    return _span(item) if isinstance(item, Token) else item.span


def _join(first: Token | _E, last: Token | _E) -> Span:
    """The span from the start of ``first`` to the end of ``last``."""
    start, end = _extent(first), _extent(last)
    return Span(start.line, start.column, end.end_line, end.end_column)


def _nested(node: Any, inner: int, span: Span, path: tuple[str, ...] | None = None) -> _E:
    """A node one level above its deepest part; E040 when that level is beyond the limit."""
    depth = inner + 1
    limit = _CTX.get().limits.max_nesting_depth
    if depth > limit:
        raise _LimitExceeded(_depth_exceeded(span, limit))
    return _E(node, depth, span, path)


def _depth_exceeded(span: Span, limit: int) -> Diagnostic:
    return Diagnostic.at(
        "E040",
        Span.point(span.line, span.column),
        f"nesting depth exceeds the limit of {limit}",
        "split the expression into several named values",
    )


def _deepest(parts: list[_E]) -> int:
    return max((part.depth for part in parts), default=0)


_DURATION_MESSAGE = "a duration is only allowed as a with-option value"


def _plain(part: _E) -> Any:
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
        raise _LimitExceeded(
            Diagnostic.at(
                "E040",
                Span.point(span.line, span.column),
                f"the number of declarations exceeds the limit of {limit}",
                "split the program into several pipelines",
            )
        )


def _callee_segments(target: _E) -> Iterator[tuple[str, Span]]:
    """The segments of a dotted callee with their spans, last first (iterative)."""
    node = target.node
    while type(node) is Field:
        yield node.name, node.name_span
        node = node.target
    if type(node) is Name:
        yield node.name, node.span


def _check_callee(target: _E, opening: Token) -> tuple[str, ...]:
    """The callee path of a call; E020 unless it is a plain dotted name of non-keywords."""
    if target.path is None:
        _CTX.get().error(
            _span(opening),
            "only a function can be called, by its name",
            "call a function by name, as in 'f(x)' or 'ns.f(x)'; name intermediate results",
        )
        return ()
    for segment, span in _callee_segments(target):
        if segment in _RESERVED:
            _CTX.get().error(
                span,
                f"'{segment}' is a reserved word and cannot name a function or namespace",
            )
    return target.path


# --------------------------------------------------------------------------- callbacks


class _Builder:
    """The rule callbacks: lark calls the method named after each rule (or alias) it reduces.

    Children are tokens (every terminal is named, so brackets and keywords are kept for
    positions) and the values returned for sub-rules: :class:`_E`, :class:`_Args`,
    patterns, annotations and declarations.
    """

    # ------------------------------------------------------------------ declarations

    def start(self, c: list[Any]) -> list[Declaration]:
        return c

    def interp(self, c: list[Any]) -> _E:
        return cast(_E, c[0])

    def type_decl(self, c: list[Any]) -> TypeDecl:
        span = _join(c[0], c[3])
        _declared(span)
        return TypeDecl(c[1].value, c[3].node, _span(c[1]), span)

    def input_decl(self, c: list[Any]) -> InputDecl:
        annotations = tuple(a for a in c if isinstance(a, Annotation))
        at = len(annotations)
        name, type_ = c[at + 1], c[at + 3]
        default = _plain(c[at + 5]) if len(c) > at + 5 else None
        first = annotations[0].span if annotations else _span(c[at])
        last = _extent(c[-1])
        span = Span(first.line, first.column, last.end_line, last.end_column)
        _declared(span)
        return InputDecl(name.value, type_.node, default, annotations, _span(name), span)

    def annotation(self, c: list[Any]) -> Annotation:
        at, name = c[0], c[1]
        argument = _plain(c[3]) if len(c) == 5 else None
        if name.value not in _ANNOTATIONS:
            _CTX.get().error(
                _join(at, name),
                f"unknown annotation '@{name.value}'",
                "the annotations are '@doc' and '@example'",
            )
        return Annotation(name.value, argument, _span(name), _join(at, c[-1]))

    def assignment(self, c: list[Any]) -> Assignment:
        span = _join(c[0], c[2])
        _declared(span)
        return Assignment(c[0].value, _plain(c[2]), _span(c[0]), span)

    def output_decl(self, c: list[Any]) -> OutputDecl:
        span = _join(c[0], c[1])
        _declared(span)
        _CTX.get().outputs += 1
        return OutputDecl(c[1].value, _span(c[1]), span)

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
            _span(alias) if alias is not None else NO_SPAN,
            span,
        )

    # ------------------------------------------------------------------ with options

    def call_with(self, c: list[Any]) -> _E:
        target, with_ = c[0], c[1]
        options = [o for o in c[2:] if isinstance(o, _E)]
        if type(target.node) is not Call:
            _CTX.get().error(
                _span(with_),
                "'with' can only follow a call",
                "options apply to a module call, as in 'F(x) with retry: 2'",
            )
            return cast(_E, target)
        node = WithCall(target.node, tuple(o.node for o in options), _join(target, options[-1]))
        return _nested(node, max(target.depth, _deepest(options)), node.span)

    def option(self, c: list[Any]) -> _E:
        name = c[0]
        if len(c) == 1:
            return _E(Option(name.value, None, _span(name), _span(name)), 0, _span(name))
        value = c[2]
        # `fallback` is an ordinary expression; every other option value may be a
        # duration or a rate (§1.5).
        node = _plain(value) if name.value == "fallback" else value.node
        span = _join(name, value)
        return _E(Option(name.value, node, _span(name), span), value.depth, span)

    # ------------------------------------------------------------------ types

    def union_type(self, c: list[Any]) -> _E:
        parts = [p for p in c if isinstance(p, _E)]
        members: list[TypeExpr] = []
        for part in parts:
            if type(part.node) is UnionType:
                members.extend(part.node.members)
            else:
                members.append(part.node)
        span = _join(parts[0], parts[-1])
        return _nested(UnionType(tuple(members), span), _deepest(parts), span)

    def merge_type(self, c: list[Any]) -> _E:
        span = _join(c[0], c[2])
        return _nested(MergeType(c[0].node, c[2].node, span), max(c[0].depth, c[2].depth), span)

    def type_name(self, c: list[Any]) -> _E:
        span = _span(c[0])
        return _E(TypeName(c[0].value, span), 1, span)

    def type_app(self, c: list[Any]) -> _E:
        args = [a for a in c if isinstance(a, _E)]
        span = _join(c[0], c[-1])
        return _nested(TypeApp(c[0].value, tuple(a.node for a in args), span), _deepest(args), span)

    def record_type(self, c: list[Any]) -> _E:
        fields = [f for f in c if isinstance(f, _E)]
        span = _join(c[0], c[-1])
        return _nested(RecordType(tuple(f.node for f in fields), span), _deepest(fields), span)

    def type_field(self, c: list[Any]) -> _E:
        name, type_ = c[0], c[2]
        return _E(TypeField(name.value, type_.node, _span(name)), type_.depth, _join(name, type_))

    def type_paren(self, c: list[Any]) -> _E:
        return _nested(c[1].node, c[1].depth, _join(c[0], c[2]))

    # ------------------------------------------------------------------ operators

    def if_expr(self, c: list[Any]) -> _E:
        cond, then, otherwise = c[2], c[4], c[6]
        span = _join(c[0], otherwise)
        node = If(_plain(cond), _plain(then), _plain(otherwise), span)
        return _nested(node, max(cond.depth, then.depth, otherwise.depth), span)

    def coalesce(self, c: list[Any]) -> _E:
        left, right = c[0], c[2]
        span = _join(left, right)
        node = Coalesce(_plain(left), _plain(right), span)
        return _nested(node, max(left.depth, right.depth), span)

    def when(self, c: list[Any]) -> _E:
        value, cond = c[0], c[2]
        span = _join(value, cond)
        return _nested(When(_plain(value), _plain(cond), span), max(value.depth, cond.depth), span)

    def binary(self, c: list[Any]) -> _E:
        left, op, right = c[0], c[1], c[2]
        span = _join(left, right)
        # `10/1s` may still turn out to be an option value: its parent decides (_plain).
        deferred = op.value == "/" and type(right.node) is DurationLit
        node = Binary(
            cast(BinaryOp, op.value),
            _plain(left),
            right.node if deferred else _plain(right),
            span,
            _span(op),
        )
        return _nested(node, max(left.depth, right.depth), span)

    def not_op(self, c: list[Any]) -> _E:
        span = _join(c[0], c[1])
        return _nested(Not(_plain(c[1]), span), c[1].depth, span)

    def neg(self, c: list[Any]) -> _E:
        span = _join(c[0], c[1])
        return _nested(Neg(_plain(c[1]), span), c[1].depth, span)

    # ------------------------------------------------------------------ postfix

    def field(self, c: list[Any]) -> _E:
        target, name = c[0], c[2]
        span = _join(target, name)
        node = Field(_plain(target), name.value, _span(name), span)
        path = (*target.path, name.value) if target.path is not None else None
        return _nested(node, target.depth, span, path)

    def project(self, c: list[Any]) -> _E:
        target = c[0]
        fields = tuple(FieldRef(t.value, _span(t)) for t in c[2:-1] if t.type != "COMMA")
        span = _join(target, c[-1])
        return _nested(Project(_plain(target), fields, span), target.depth, span)

    def call(self, c: list[Any]) -> _E:
        target, args = c[0], c[1]
        callee = _check_callee(target, args.opening)
        return _call(callee, target.span, args, _join(target, args.close))

    def call_args(self, c: list[Any]) -> _Args:
        return _Args(c[0], [a for a in c[1:-1] if isinstance(a, _E)], c[-1])

    def lambda_expr(self, c: list[Any]) -> _E:
        body = c[-1]
        annotation: TypeExpr | None = None
        if len(c) == 7:
            param, param_span = c[1].value, _span(c[1])
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

    def var(self, c: list[Any]) -> _E:
        span = _span(c[0])
        return _E(Name(c[0].value, span), 1, span, (c[0].value,))

    def int_lit(self, c: list[Any]) -> _E:
        span = _span(c[0])
        return _E(IntLit(int(c[0].value), span), 1, span)

    def float_lit(self, c: list[Any]) -> _E:
        span = _span(c[0])
        return _E(FloatLit(float(c[0].value), span), 1, span)

    def duration_lit(self, c: list[Any]) -> _E:
        text: str = c[0].value
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        span = _span(c[0])
        return _E(DurationLit(int(digits) * MILLIS[text[len(digits) :]], text, span), 1, span)

    def string_lit(self, c: list[Any]) -> _E:
        return _CTX.get().strings[c[0].start_pos]

    def true_lit(self, c: list[Any]) -> _E:
        span = _span(c[0])
        return _E(BoolLit(True, span), 1, span)

    def false_lit(self, c: list[Any]) -> _E:
        span = _span(c[0])
        return _E(BoolLit(False, span), 1, span)

    def paren(self, c: list[Any]) -> _E:
        # No node for the parentheses, but a level of depth (§11) and a wider extent.
        return _nested(c[1].node, c[1].depth, _join(c[0], c[2]))

    def list_lit(self, c: list[Any]) -> _E:
        elements = [e for e in c if isinstance(e, _E)]
        span = _join(c[0], c[-1])
        node = ListLit(tuple(_plain(e) for e in elements), span)
        return _nested(node, _deepest(elements), span)

    def record_lit(self, c: list[Any]) -> _E:
        fields = [f for f in c if isinstance(f, _E)]
        span = _join(c[0], c[-1])
        return _nested(RecordLit(tuple(f.node for f in fields), span), _deepest(fields), span)

    def rec_field(self, c: list[Any]) -> _E:
        name, value = c[0], c[2]
        node = RecordField(name.value, _plain(value), _span(name))
        return _E(node, value.depth, _join(name, value))

    def branch_expr(self, c: list[Any]) -> _E:
        arms = [a for a in c if isinstance(a, _E) and type(a.node) is BranchArm]
        otherwise = next(x for x in reversed(c) if isinstance(x, _E))
        span = _join(c[0], c[-1])
        node = Branch(tuple(a.node for a in arms), _plain(otherwise), span)
        return _nested(node, max(_deepest(arms), otherwise.depth), span)

    def branch_arm(self, c: list[Any]) -> _E:
        cond, value = c[0], c[2]
        span = _join(cond, value)
        return _E(BranchArm(_plain(cond), _plain(value), span), max(cond.depth, value.depth), span)

    def match_expr(self, c: list[Any]) -> _E:
        subject = c[1]
        cases = [x for x in c[3:] if isinstance(x, _E)]
        span = _join(c[0], c[-1])
        node = Match(_plain(subject), tuple(x.node for x in cases), span)
        return _nested(node, max(subject.depth, _deepest(cases)), span)

    def match_subject(self, c: list[Any]) -> _E:
        # NAME ("." field_name)* call_args?: built like the postfix rules would.
        args = c[-1] if isinstance(c[-1], _Args) else None
        names = [t for t in (c[:-1] if args is not None else c) if t.type != "DOT"]
        first = _span(names[0])
        part = _E(Name(names[0].value, first), 1, first, (names[0].value,))
        for name in names[1:]:
            span = _join(part, name)
            assert part.path is not None
            node = Field(part.node, name.value, _span(name), span)
            part = _nested(node, part.depth, span, (*part.path, name.value))
        if args is None:
            return part
        callee = _check_callee(part, args.opening)
        return _call(callee, part.span, args, _join(part, args.close))

    def match_case(self, c: list[Any]) -> _E:
        pattern, body = c[0], c[2]
        span = Span(
            pattern.span.line, pattern.span.column, body.span.end_line, body.span.end_column
        )
        return _E(MatchCase(pattern, _plain(body), span), body.depth, span)

    def wildcard(self, c: list[Any]) -> Wildcard:
        return Wildcard(_span(c[0]))

    def is_pattern(self, c: list[Any]) -> IsPattern:
        return IsPattern(c[1].node, _join(c[0], c[1]))

    def record_pattern(self, c: list[Any]) -> RecordPattern:
        fields = tuple(FieldRef(t.value, _span(t)) for t in c[1:-1] if t.type != "COMMA")
        return RecordPattern(fields, _join(c[0], c[-1]))


def _call(callee: tuple[str, ...], callee_span: Span, args: _Args, span: Span) -> _E:
    node = Call(callee, tuple(_plain(a) for a in args.args), callee_span, span)
    return _nested(node, _deepest(args.args), span)


class _NoLexer(Lexer):
    """Tokens come from ``constellation.lexer`` and are fed to the parser one by one."""

    def __init__(self, conf: LexerConf) -> None:
        pass

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[Token]:
        raise NotImplementedError("constellation feeds lark the tokens of its own lexer")


def _grammar_cache() -> str | bool:
    """Where lark keeps its analysis of the grammar, which makes later imports ~10x faster.

    A file in the user's cache directory rather than lark's default, the shared temporary
    directory: lark loads it with pickle, and another user could plant one there. Without a
    usable home directory there is no cache (False).
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return False
    directory = Path(base) / "constellation"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    version = f"lark{lark.__version__}-py{sys.version_info.major}.{sys.version_info.minor}"
    return str(directory / f"grammar-{version}.cache")


# Built once at import, the grammar analysis cached (lark rebuilds the cache when the grammar
# or the options change). `propagate_positions` is off: it only fills the
# `meta` of lark trees, and the callbacks build syntax nodes with spans taken from the tokens
# themselves; the wrapper it puts around every reduction would cost a quarter of the time.
_LARK = Lark(
    GRAMMAR_PATH.read_text(encoding="utf-8"),
    parser="lalr",
    lexer=_NoLexer,
    start=["start", "interp"],
    strict=True,
    propagate_positions=False,
    transformer=_Builder(),
    cache=_grammar_cache(),
)
_VOCABULARY = Vocabulary.from_terminals(_LARK.terminals)
_RESERVED = frozenset(_VOCABULARY.keywords)
_RESERVED_TERMINALS = frozenset(_VOCABULARY.keywords.values())
_TEXT = {t.name: t.pattern.value for t in _LARK.terminals if isinstance(t.pattern, PatternStr)}


# --------------------------------------------------------------------------- driver


def parse(
    source: Source, limits: Limits = DEFAULT_LIMITS
) -> tuple[Program | None, tuple[Diagnostic, ...]]:
    """Parse a program: ``(program, ())``, or ``(None, diagnostics)`` sorted by position.

    The diagnostics are every syntax error found (E020), or a single E040 when the source
    exceeds a limit of ``limits`` (size, nesting depth, number of declarations).
    """
    text = source.text
    # At most 4 bytes per code point: most sources need no encoding to be measured.
    if len(text) > limits.max_source_bytes or (
        4 * len(text) > limits.max_source_bytes
        and len(text.encode("utf-8", "surrogatepass")) > limits.max_source_bytes
    ):
        return None, (
            Diagnostic.at(
                "E040",
                Span.point(1, 1),
                f"the source exceeds the size limit of {limits.max_source_bytes} bytes",
                "split the program into several pipelines",
            ),
        )
    context = _Context(limits)
    reset = _CTX.set(context)
    try:
        return _parse(text, context)
    except _LimitExceeded as exceeded:
        return None, (exceeded.diagnostic,)
    except LarkError as error:  # pragma: no cover - a safety net: every error is mapped above
        line, column = getattr(error, "line", 1), getattr(error, "column", 1)
        where = (
            Span.point(line, column)
            if isinstance(line, int) and isinstance(column, int)
            else Span.point(1, 1)
        )
        return None, (Diagnostic.at("E020", where, f"syntax error: {error}".splitlines()[0]),)
    finally:
        _CTX.reset(reset)


def _parse(text: str, context: _Context) -> tuple[Program | None, tuple[Diagnostic, ...]]:
    lexed = tokenize(text, _VOCABULARY)
    _check_brackets(lexed.tokens, context.limits.max_nesting_depth)
    context.diagnostics.extend(lexed.diagnostics)
    for string in lexed.strings:
        context.strings[cast(int, string.token.start_pos)] = _string_value(string, context)
    declarations = _parse_declarations(lexed.tokens, context)
    if context.outputs == 0 and (
        not context.diagnostics or not any(t.type == "OUT" for t in lexed.tokens)
    ):
        context.error(
            Span.point(1, 1),
            "the program declares no output",
            "add 'out name' for each value the pipeline returns",
        )
    if context.diagnostics:
        ordered = sorted(context.diagnostics, key=lambda d: (d.line, d.column))
        return None, tuple(ordered)
    end_line, end_column = _position_after(text)
    return Program(tuple(declarations), Span(1, 1, end_line, end_column)), ()


def _check_brackets(tokens: list[Token], limit: int) -> None:
    """E040 for brackets nested far beyond the limit, even unclosed, before parsing.

    Every bracket level of a valid program adds a level of expression or type depth,
    except the parenthesis of an annotation or of a lambda parameter, so a valid program
    never nests brackets deeper than twice the limit plus one: beyond that the depth is
    exceeded whatever the rest of the program says. (Closer to the limit, the depth
    computed while parsing decides, and places the error more precisely.)
    """
    threshold = 2 * limit + 1
    level = 0
    for token in tokens:
        kind = token.type
        if kind in _OPENERS:
            level += 1
            if level > threshold:
                raise _LimitExceeded(_depth_exceeded(_span(token), limit))
        elif kind in _CLOSERS and level:
            level -= 1


def _position_after(text: str) -> tuple[int, int]:
    """The line and column just after the last character of ``text``."""
    return text.count("\n") + 1, len(text) - (text.rfind("\n") + 1) + 1


def _parse_declarations(tokens: list[Token], context: _Context) -> list[Declaration]:
    """Parse the program's tokens, resynchronizing after each syntax error."""
    # End of input is reported just after the last token: after the last character that
    # is not a blank or a comment.
    last = tokens[-1] if tokens else None
    end_line = cast(int, last.end_line) if last is not None else 1
    end_column = cast(int, last.end_column) if last is not None else 1
    end_pos = cast(int, last.end_pos) if last is not None else 0
    end = Token("$END", "", end_pos, end_line, end_column, end_line, end_column + 1, end_pos)
    declarations: list[Declaration] = []
    start = 0
    while True:
        parser = _LARK.parse_interactive(start="start")
        index = start
        try:
            for index in range(start, len(tokens)):
                parser.feed_token(tokens[index])
            index = len(tokens)
            declarations.extend(parser.feed_token(end))
            return declarations
        except UnexpectedInput as error:
            token = tokens[index] if index < len(tokens) else end
            expected = _accepted(parser, error)
            diagnostic = _syntax_error(expected, tokens, index, start, token, "end of input")
            if diagnostic is not None:
                context.diagnostics.append(diagnostic)
            if index >= len(tokens):
                return declarations
            if _starts_assignment(tokens, index - 1, start):
                # `b = a +` then `c = 1`: `c` was read as an operand, but it begins the
                # next declaration; parse on from there.
                index -= 1
            resume = _resync(tokens, max(index, start + 1))
            if resume is None:
                return declarations
            start = resume


def _string_value(string: LexedString, context: _Context) -> _E:
    """The node of a string literal: a StringLit, or an Interpolation of parsed pieces."""
    token = string.token
    span = _span(token)
    parts: list[str | Expr] = []
    pieces: list[_E] = []
    failed = not string.terminated
    for part in string.parts:
        if isinstance(part, str):
            parts.append(part)
            continue
        piece = None if part.empty else _parse_interpolation(part, context)
        if piece is None:
            failed = True
            continue
        parts.append(_plain(piece))
        pieces.append(piece)
    if failed:
        return _E(StringLit("", span), 1, span)
    if not pieces:
        return _E(StringLit("".join(cast(list[str], parts)), span), 1, span)
    return _nested(Interpolation(tuple(parts), span), _deepest(pieces), span)


def _parse_interpolation(segment: Segment, context: _Context) -> _E | None:
    """Parse the tokens of one ``${…}`` with the ``interp`` start symbol."""
    closing = segment.closing
    assert closing is not None
    end = Token(
        "$END",
        "}",
        segment.closing_pos,
        closing.line,
        closing.column,
        closing.end_line,
        closing.end_column,
        segment.closing_pos + 1,
    )
    tokens = segment.tokens
    parser = _LARK.parse_interactive(start="interp")
    index = 0
    try:
        for index, token in enumerate(tokens):  # noqa: B007 (the index locates errors)
            parser.feed_token(token)
        index = len(tokens)
        return cast(_E, parser.feed_token(end))
    except UnexpectedInput as error:
        token = tokens[index] if index < len(tokens) else end
        diagnostic = _syntax_error(_accepted(parser, error), tokens, index, 0, token, "'}'")
        if diagnostic is not None:
            context.diagnostics.append(diagnostic)
        return None


def _accepted(parser: InteractiveParser, error: UnexpectedInput) -> set[str]:
    """The terminals the parser could take where it failed.

    Asked of the parser itself: the ``expected`` set of the error is the LALR state's,
    which can hold tokens of other contexts (``else`` outside any ``if``).
    """
    try:
        return set(parser.accepts())  # type: ignore[no-untyped-call]
    except LarkError:
        return set(getattr(error, "expected", None) or ())


def _starts_assignment(tokens: list[Token], index: int, start: int) -> bool:
    """Whether ``tokens[index]`` is a name that begins a line and is followed by ``=``."""
    return (
        start < index < len(tokens) - 1
        and tokens[index].type == "NAME"
        and tokens[index + 1].type == "EQUAL"
        and _first_on_line(tokens, index)
    )


def _first_on_line(tokens: list[Token], index: int) -> bool:
    return index == 0 or cast(int, tokens[index - 1].end_line) < cast(int, tokens[index].line)


# A declaration starts with one of these, followed by a token of the second set.
_DECLARATION_STARTS = {
    "TYPE": ("NAME",),
    "IN": ("NAME",),
    "OUT": ("NAME",),
    "USE": ("NAME",),
    "AT": ("NAME",),
    "NAME": ("EQUAL",),
}


def _resync(tokens: list[Token], index: int) -> int | None:
    """The index of the first token at or after ``index`` that starts a declaration line."""
    for k in range(index, len(tokens)):
        follow = _DECLARATION_STARTS.get(tokens[k].type)
        if (
            follow is not None
            and _first_on_line(tokens, k)
            and k + 1 < len(tokens)
            and tokens[k + 1].type in follow
        ):
            return k
    return None


# --------------------------------------------------------------------------- messages

_EXPRESSION_STARTS = frozenset(
    [
        "NAME",
        "INT",
        "FLOAT",
        "DURATION",
        "STRING",
        "TRUE",
        "FALSE",
        "LPAR",
        "LSQB",
        "LBRACE",
        "BRANCH",
        "MATCH",
    ]
)
_EXPRESSION_EXTRAS = frozenset({"MINUS", "NOT", "IF"})
# What may follow a complete expression: listing these helps nobody.
_CONTINUATIONS = frozenset(
    [
        "PLUS",
        "MINUS",
        "STAR",
        "SLASH",
        "PERCENT",
        "EQEQ",
        "NOTEQ",
        "LESSTHAN",
        "LESSEQ",
        "MORETHAN",
        "MOREEQ",
        "AND",
        "OR",
        "WHEN",
        "COALESCE",
        "DOT",
        "LSQB",
        "LBRACE",
        "LPAR",
        "WITH",
    ]
)
_OPERATORS_AFTER_EXPRESSION = frozenset({"STAR", "PLUS", "AND", "OR", "WHEN", "COALESCE"})
_TYPE_CONTINUATIONS = frozenset({"PLUS", "VBAR", "LESSTHAN"})
_TYPE_STARTS = frozenset({"NAME", "LBRACE", "LPAR"})
_COMPARISONS = frozenset({"EQEQ", "NOTEQ", "LESSTHAN", "LESSEQ", "MORETHAN", "MOREEQ"})
_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
_CLOSERS = frozenset(_OPENERS.values())


def _describe(token: Token, end_text: str) -> str:
    """How a message names a token: its text in quotes."""
    if token.type == "$END":
        return end_text
    text = str(token.value)
    if token.type == "STRING":
        return "string " + (text if len(text) <= 24 else text[:20] + '…"')
    return f"'{text if len(text) <= 30 else text[:28] + '…'}'"


def _name_terminal(name: str) -> str:
    special = {"NAME": "a name", "STRING": "a string", "INT": "a number", "FLOAT": "a number"}
    return special.get(name) or f"'{_TEXT.get(name, name.lower())}'"


def _alternatives(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _after_expression(expected: set[str]) -> bool:
    """Whether the parser stands right after a complete expression (operators may follow)."""
    return not expected.isdisjoint(_OPERATORS_AFTER_EXPRESSION)


def _expected_phrase(expected: set[str], end_text: str) -> str | None:
    """A short description of what the parser would have accepted, or None if none helps."""
    rest = set(expected) - {"$END"}
    # The end of an interpolation is its `}`: worth naming, unlike the end of the input.
    closing = [end_text] if "$END" in expected and end_text == "'}'" else []
    if _after_expression(rest):
        # Right after a complete expression: name what could close or continue the
        # construct, not every operator.
        rest -= _CONTINUATIONS
    elif "VBAR" in rest:
        rest -= _TYPE_CONTINUATIONS
    phrases: list[str] = []
    if rest >= _EXPRESSION_STARTS:
        phrases.append("an expression")
        rest -= _EXPRESSION_STARTS | _EXPRESSION_EXTRAS
    elif {"NAME", "TYPE", "IN", "OUT", "USE"} <= rest and "AT" not in rest:
        phrases.append("a field name")
        rest -= {"NAME", *_RESERVED_TERMINALS}
    elif {"TYPE", "IN", "OUT", "USE", "AT"} <= rest:
        return None
    elif rest >= _TYPE_STARTS and "INT" not in rest:
        phrases.append("a type")
        rest -= _TYPE_STARTS
    if len(rest) > 4 or (not phrases and not rest and not closing):
        return None
    phrases.extend(_name_terminal(t) for t in sorted(rest, key=_terminal_order))
    return _alternatives(phrases + closing)


def _terminal_order(name: str) -> tuple[int, str]:
    # Punctuation first, then words, each alphabetically: stable messages.
    text = _TEXT.get(name, "")
    return (1 if text.isalpha() or not text else 0, text or name)


def _enclosing(tokens: list[Token], index: int, start: int) -> int | None:
    """The index of the innermost bracket still open before ``tokens[index]``."""
    level = 0
    for k in range(index - 1, max(start, index - 10_000) - 1, -1):
        kind = tokens[k].type
        if kind in _CLOSERS:
            level += 1
        elif kind in _OPENERS:
            if level == 0:
                return k
            level -= 1
    return None


def _seen_since(tokens: list[Token], begin: int, index: int, kind: str) -> bool:
    """Whether a ``kind`` token stands between ``begin`` and ``index`` at bracket level 0."""
    level = 0
    for k in range(begin, index):
        t = tokens[k].type
        if t in _OPENERS:
            level += 1
        elif t in _CLOSERS:
            level -= 1
        elif t == kind and level == 0:
            return True
    return False


def _syntax_error(
    expected: set[str],
    tokens: list[Token],
    index: int,
    start: int,
    token: Token,
    end_text: str,
) -> Diagnostic | None:
    """The E020 for a token the parser cannot take (None if the lexer already reported it)."""
    if token.type == INVALID:
        return None
    previous = tokens[index - 1] if start < index <= len(tokens) else None
    before = tokens[index - 2] if start < index - 1 else None
    span = _span(token)
    described = _describe(token, end_text)
    if (
        expected == {"EQUAL"}
        and previous is not None
        and previous.type == "NAME"
        and not _first_on_line(tokens, index - 1)
        and (before is None or before.type != "TYPE")
    ):
        # `x = a b`: the parser took `b` for the start of a new declaration, because
        # declarations need no separator; the mistake is `b` itself.
        return Diagnostic.at("E020", _span(previous), f"unexpected '{previous.value}'")
    message = f"unexpected {described}"
    hint: str | None = None
    reason: str | None = None
    after_expression = _after_expression(expected)
    if token.type in _COMPARISONS and after_expression and "EQEQ" not in expected:
        reason = "comparisons do not chain"
        hint = "combine comparisons with 'and', as in 'a < x and x < b'"
    elif token.type == "WHEN" and after_expression and "WHEN" not in expected:
        reason = "'when' does not chain"
        hint = "combine the conditions with 'and', or parenthesize the inner guard"
    elif token.type == "IF" and expected >= _EXPRESSION_STARTS and "IF" not in expected:
        reason = "an if expression must be parenthesized here"
        hint = "write '(if (c) a else b)'"
    elif token.type == "WITH":
        hint = (
            "options follow a call that is the whole right-hand side, or a parenthesized "
            "call: '(F(x) with retry: 2)'"
        )
    elif token.type == "EQUAL" and _starts_assignment(tokens, index - 1, start):
        hint = (
            f"the declaration before '{tokens[index - 1].value}' is incomplete, "
            "so it was read as part of it"
        )
    elif token.type == "COMMA" and expected - _CONTINUATIONS == {"RPAR", "COLON"}:
        hint = "a lambda takes exactly one parameter"
    elif token.type == "FATARROW":
        reason = "a lambda can only be a call argument"
        hint = "write the lambda inside the call, as in 'map(xs, (x) => x + 1)'"
    elif token.type == "VBAR" and after_expression:
        hint = "use 'or' for a logical or"
    elif previous is not None and previous.type == "OUT":
        hint = _OUT_HINT
    elif before is not None and before.type == "OUT" and token.type != "$END":
        reason = "'out' takes a name"
        hint = _OUT_HINT
    elif expected <= {"IN", "AT"} and "IN" in expected:
        hint = "annotations stand before an input: '@doc(\"…\") in name: Type'"
    else:
        hint = _context_hint(tokens, index, start, token, expected)
        if (
            hint is None
            and token.type in _RESERVED_TERMINALS
            and (
                expected <= {"NAME", "RPAR"}
                or (index + 1 < len(tokens) and tokens[index + 1].type in ("EQUAL", "COLON"))
            )
        ):
            # `in when: Boolean`, `is = 1`, `(in) => …`
            hint = f"'{token.value}' is a reserved word and cannot be used as a name"
    if reason is not None:
        message += f": {reason}"
    else:
        phrase = _expected_phrase(expected, end_text)
        if phrase is not None:
            message += f", expected {phrase}"
    return Diagnostic.at("E020", span, message, hint)


_OUT_HINT = "assign the expression to a name first ('total = order.total'), then 'out total'"


def _context_hint(
    tokens: list[Token], index: int, start: int, token: Token, expected: set[str]
) -> str | None:
    """A hint from the construct the error is in (a branch, a with clause)."""
    opener = _enclosing(tokens, index, start)
    if opener is not None and opener > 0 and tokens[opener - 1].type == "BRANCH":
        if _seen_since(tokens, opener + 1, index, "OTHERWISE"):
            return "'otherwise' must be the last arm of a branch"
        if token.type == "RBRACE":
            return "a branch ends with an 'otherwise -> value' arm"
    begin = opener + 1 if opener is not None else start
    if (
        index > 0
        and tokens[index - 1].type == "COMMA"
        and expected == {"NAME"}
        and _seen_since(tokens, begin, index, "WITH")
    ):
        return "'with' options take no trailing comma"
    return None
