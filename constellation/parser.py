"""The parser: source text → syntax tree (language.md §1–§4, §8.1, §11, Appendix A).

``parse(source)`` returns ``(program, ())`` or ``(None, diagnostics)`` with every syntax
error (E020) found, sorted by position, or with the single E040 of an exceeded limit.

How it works: the lexer (``constellation.lexer``) turns the text into tokens; lark's LALR(1)
parser, built once from ``grammar.lark``, consumes them and calls the rule callbacks of
``constellation.builder`` on every reduction, which build the ``constellation.syntax`` nodes
bottom-up, compute each node's nesting depth (§11) and make the checks a grammar cannot
express (A.1). Nothing here recurses over the tree, so depth is enforced before any
recursive pass can run, and 100 000 nested brackets cost a linear scan and an early E040.

After a syntax error (worded by ``constellation.syntax_errors``) the parser resynchronizes
at the next line that starts a declaration and parses on from there, to report further
errors in one run.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import lark
from lark import Lark, Token
from lark.common import LexerConf
from lark.exceptions import LarkError, UnexpectedInput
from lark.lexer import Lexer, LexerState

from constellation.builder import (
    BuildContext,
    Builder,
    LimitExceeded,
    Part,
    building,
    depth_exceeded,
    string_value,
)
from constellation.errors import Diagnostic
from constellation.lexer import CLOSERS, OPENERS, Segment, Vocabulary, token_span, tokenize
from constellation.limits import DEFAULT_LIMITS, Limits
from constellation.source import Source, Span
from constellation.syntax import Declaration, Program
from constellation.syntax_errors import resume_point, syntax_error

__all__ = ["GRAMMAR_PATH", "parse"]

#: The grammar file, the single source of truth for the syntax.
GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")


# --------------------------------------------------------------------------- lark


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
    transformer=Builder(),
    cache=_grammar_cache(),
)
_VOCABULARY = Vocabulary.from_terminals(_LARK.terminals)
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:
        # Python strings may hold them; UTF-8 (the source encoding, and every hash) may not.
        start = surrogate.start()
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        return None, (
            Diagnostic.at(
                "E020",
                Span.point(line, column),
                f"the source contains U+{ord(surrogate.group()):04X}, a lone surrogate, "
                "which is not valid Unicode",
                "remove it, or write the character it stands for",
            ),
        )
    with building(limits) as context:
        try:
            return _parse(text, context)
        except LimitExceeded as exceeded:
            return None, (exceeded.diagnostic,)
        except LarkError as error:  # pragma: no cover - a safety net: every error is mapped
            line, column = getattr(error, "line", 1), getattr(error, "column", 1)
            where = (
                Span.point(line, column)
                if isinstance(line, int) and isinstance(column, int)
                else Span.point(1, 1)
            )
            message = f"syntax error: {error}".splitlines()[0]
            return None, (Diagnostic.at("E020", where, message),)


def _parse(text: str, context: BuildContext) -> tuple[Program | None, tuple[Diagnostic, ...]]:
    lexed = tokenize(text, _VOCABULARY)
    _check_brackets(lexed.tokens, context.limits.max_nesting_depth)
    context.diagnostics.extend(lexed.diagnostics)

    def parse_piece(segment: Segment) -> Part | None:
        return _parse_interpolation(segment, context)

    # Innermost literals first, so that the value of a string nested in an interpolation
    # is there when the interpolation is parsed.
    for string in lexed.strings:
        context.strings[cast(int, string.token.start_pos)] = string_value(string, parse_piece)
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
        if kind in OPENERS:
            level += 1
            if level > threshold:
                raise LimitExceeded(depth_exceeded(token_span(token), limit))
        elif kind in CLOSERS and level:
            level -= 1


def _position_after(text: str) -> tuple[int, int]:
    """The line and column just after the last character of ``text``."""
    return text.count("\n") + 1, len(text) - (text.rfind("\n") + 1) + 1


def _parse_declarations(tokens: list[Token], context: BuildContext) -> list[Declaration]:
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
            diagnostic = syntax_error(
                parser, error, tokens, index, start, end, "end of input", _VOCABULARY
            )
            if diagnostic is not None:
                context.diagnostics.append(diagnostic)
            if index >= len(tokens):
                return declarations
            resume = resume_point(tokens, index, start)
            if resume is None:
                return declarations
            start = resume


def _parse_interpolation(segment: Segment, context: BuildContext) -> Part | None:
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
        return cast(Part, parser.feed_token(end))
    except UnexpectedInput as error:
        diagnostic = syntax_error(parser, error, tokens, index, 0, end, "'}'", _VOCABULARY)
        if diagnostic is not None:
            context.diagnostics.append(diagnostic)
        return None
