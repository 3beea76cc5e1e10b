"""The lexer of constellation-lang: source text → lark tokens (language.md §1).

Hand-written because three things need more than a table of regular expressions: the longest
identifier may contain hyphens (``price-tax``), a number must not run into a name (``3x``),
and a string literal contains code: each ``${…}`` interpolation is balanced over brackets and
nested strings (which may interpolate again) and lexed into its own token list, with the
positions of the real source. The parser parses each of those lists with the ``interp``
start symbol.

The lexer never stops at a mistake: it reports E020 and goes on, so that one run finds every
lexical error. A character that cannot start a token becomes an ``INVALID`` token, which no
grammar rule accepts: the parser then resynchronizes without a second diagnostic. A malformed
number still yields a number token, so that it costs one diagnostic, not a cascade.

The scan is iterative (an explicit stack of open strings and interpolations), so no input,
however deeply nested, makes it recurse.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lark import Token
from lark.lexer import PatternStr, TerminalDef

from constellation.errors import Diagnostic
from constellation.source import Span

#: The type of a token for a character that cannot start a token (never in the grammar).
INVALID = "INVALID"

#: The largest Int (language.md §1.5).
INT_MAX = 2**63 - 1

#: Milliseconds per duration unit (§1.5).
MILLIS = {"ms": 1, "s": 1_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*"
_IDENT_TAIL = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")
_NUMBER = re.compile(
    r"(?P<digits>[0-9]+)"
    r"(?:(?P<frac>\.[0-9]+(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<exp>[eE][+-]?[0-9]+)"
    r"|(?P<unit>ms|min|s|h|d)(?![A-Za-z0-9_]))?"
)
# Ordinary string characters: everything but the quote, the backslash, `$`, line
# terminators and control characters (tab is allowed).
_STRING_RUN = re.compile(r'[^"\\$\x00-\x08\x0a-\x1f\x7f-\x9f]+')
# Control characters (Unicode category Cc) but tab and line feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_BRACED_HEX = re.compile(r"\{([0-9a-fA-F]{1,6})\}")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "$": "$"}

# Hints for characters people type from other languages.
_CHARACTER_HINTS = {
    "!": "use 'not' to negate and '!=' to compare",
    "?": "use '??' to give a default to an optional value",
    "&": "use 'and'",
    ";": "declarations need no separator; put each on its own line",
    "$": "'${…}' interpolates only inside a string literal",
    "'": "strings are written in double quotes",
    "`": "strings are written in double quotes",
    "\\": "a backslash escape is only allowed inside a string literal",
}


#: The terminals of the brackets, each opening one with its closing one.
OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
CLOSERS = frozenset(OPENERS.values())


def token_span(token: Token) -> Span:
    """The span of a token (every token of this lexer has a position)."""
    # `Any` spares four `cast` calls on a hot path: the builder calls this for every node.
    t: Any = token
    return Span(t.line, t.column, t.end_line, t.end_column)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The keywords and operators of the grammar, and the scanner built from them.

    ``keywords`` maps each reserved word (``syntax.RESERVED_WORDS``) to its terminal; ``texts``
    maps the name of every literal terminal, keyword or operator, to its text, for messages.
    """

    keywords: dict[str, str]
    texts: dict[str, str]
    code: re.Pattern[str]

    @staticmethod
    def from_terminals(terminals: Iterable[TerminalDef]) -> Vocabulary:
        """Take every literal terminal of the grammar: words are keywords, the rest operators."""
        keywords: dict[str, str] = {}
        operators: dict[str, str] = {}
        texts: dict[str, str] = {}
        for terminal in terminals:
            if isinstance(terminal.pattern, PatternStr):
                text = terminal.pattern.value
                texts[terminal.name] = text
                if re.fullmatch(_IDENT, text):
                    keywords[text] = terminal.name
                else:
                    operators[text] = terminal.name
        # Longest operator first: `==` before `=`, `->` before `-`.
        ordered = sorted(operators.items(), key=lambda item: -len(item[0]))
        alternatives = [
            r"(?P<_space>[ \t]+)",
            r"(?P<_newline>\r?\n)",
            r"(?P<_comment>\#[^\r\n]*)",
            rf"(?P<_name>{_IDENT})",
            r"(?P<_number>[0-9])",
            r'(?P<_quote>")',
            *(f"(?P<{name}>{re.escape(text)})" for text, name in ordered),
        ]
        return Vocabulary(keywords, texts, re.compile("|".join(alternatives)))


@dataclass(slots=True)
class Segment:
    """One ``${…}`` of a string literal: its tokens, and the spans of ``${`` and of ``}``."""

    opening: Span
    tokens: list[Token] = field(default_factory=list)
    closing: Span | None = None
    closing_pos: int = 0
    empty: bool = False


@dataclass(slots=True)
class LexedString:
    """A string literal: decoded text pieces and interpolations, in order.

    ``terminated`` is False for an unterminated literal, whose pieces are dropped.
    """

    token: Token
    parts: list[str | Segment]
    terminated: bool = True


@dataclass(slots=True)
class Lexed:
    """The lexer's result: the program's tokens, its string literals and the errors found.

    ``strings`` lists every literal, nested ones included, innermost first (in the order
    their closing quotes appear), so that a literal's interpolations can be parsed after
    the literals nested in them.
    """

    tokens: list[Token]
    strings: list[LexedString]
    diagnostics: list[Diagnostic]


@dataclass(slots=True)
class _StringFrame:
    quote: int
    line: int
    column: int
    sink: list[Token]
    parts: list[str | Segment] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _InterpFrame:
    segment: Segment
    brackets: int = 0


def tokenize(text: str, vocabulary: Vocabulary) -> Lexed:
    """Split ``text`` into tokens; never raises, reports lexical errors as E020."""
    scanner = _Scanner(text, vocabulary)
    scanner.run()
    return Lexed(scanner.tokens, scanner.strings, scanner.diagnostics)


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"


def _show(ch: str) -> str:
    """A character as a message shows it: quoted when printable, else its code point."""
    return f"'{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


class _Scanner:
    """The state of one scan: position, open strings and interpolations, results."""

    def __init__(self, text: str, vocabulary: Vocabulary) -> None:
        self.text = text
        self.vocabulary = vocabulary
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []
        self.strings: list[LexedString] = []
        self.diagnostics: list[Diagnostic] = []
        self.stack: list[_StringFrame | _InterpFrame] = []

    # ------------------------------------------------------------------ helpers

    def span(self, start: int, end: int) -> Span:
        """The span of text[start:end], which lies on the current line."""
        return Span(self.line, start - self.line_start + 1, self.line, end - self.line_start + 1)

    def error(self, start: int, end: int, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic.at("E020", self.span(start, end), message, hint))

    def emit(self, sink: list[Token], kind: str, value: str, start: int, end: int) -> None:
        column = start - self.line_start + 1
        sink.append(
            Token(kind, value, start, self.line, column, self.line, column + end - start, end)
        )

    # ------------------------------------------------------------------ main loop

    def run(self) -> None:
        text_length = len(self.text)
        if self.text.startswith("\ufeff"):
            # A leading byte order mark is not part of the program (§1.1); columns of the
            # first line count from after it.
            self.pos = self.line_start = 1
        while self.pos < text_length:
            top = self.stack[-1] if self.stack else None
            if isinstance(top, _StringFrame):
                self.string_step(top)
            elif top is None:
                self.code_step(self.tokens, None)
            else:
                self.code_step(top.segment.tokens, top)
        if self.stack:
            self.unterminated()

    def code_step(self, sink: list[Token], interp: _InterpFrame | None) -> None:
        """Scan one token (or blank, comment) of code, at top level or in an interpolation."""
        text, start = self.text, self.pos
        match = self.vocabulary.code.match(text, start)
        if match is None:
            self.invalid_character(sink)
            return
        kind = match.lastgroup
        end = match.end()
        if kind == "_space":
            self.pos = end
        elif kind == "_newline":
            if interp is not None:
                # A string literal, interpolations included, stands on one line (§1.6).
                self.unterminated()
                return
            self.line += 1
            self.pos = self.line_start = end
        elif kind == "_comment":
            if interp is not None:
                self.error(
                    start,
                    start + 1,
                    "'#' is not allowed inside an interpolation",
                    "a comment cannot stand inside '${…}'",
                )
                self.emit(sink, INVALID, "#", start, start + 1)
                self.pos = start + 1
                return
            self.check_comment(start, end)
            self.pos = end
        elif kind == "_name":
            word = match.group()
            self.emit(sink, self.vocabulary.keywords.get(word, "NAME"), word, start, end)
            self.pos = end
        elif kind == "_number":
            self.number(sink)
        elif kind == "_quote":
            column = start - self.line_start + 1
            self.stack.append(_StringFrame(start, self.line, column, sink))
            self.pos = start + 1
        else:
            assert kind is not None
            if interp is not None:
                # The interpolation ends at the `}` that balances its `{` (§1.6).
                if kind == "RBRACE" and interp.brackets == 0:
                    self.close_interpolation(interp)
                    return
                if kind in OPENERS:
                    interp.brackets += 1
                elif kind in CLOSERS:
                    interp.brackets = max(interp.brackets - 1, 0)
            self.emit(sink, kind, match.group(), start, end)
            self.pos = end

    def check_comment(self, start: int, end: int) -> None:
        for control in _CONTROL.finditer(self.text, start, end):
            self.control_character(control.start())

    def control_character(self, at: int) -> None:
        ch = self.text[at]
        self.error(
            at,
            at + 1,
            f"control character U+{ord(ch):04X} is not allowed",
            "remove it; inside a string, write it as an escape such as '\\n' or '\\u0007'",
        )

    def invalid_character(self, sink: list[Token]) -> None:
        start = self.pos
        ch = self.text[start]
        if _is_control(ch):
            # Invisible garbage between tokens: report it and read on as if it were blank.
            self.control_character(start)
            self.pos = start + 1
            return
        end = start + 1
        if ch == "&" and self.text.startswith("&", end):
            end += 1
        elif ch == "'" and sink is self.tokens:
            # A string in single quotes: one mistake, so one diagnostic for both quotes.
            # (Not inside an interpolation, whose end the closing quote could lie beyond.)
            line_end = self.text.find("\n", end)
            closing = self.text.find("'", end, line_end if line_end >= 0 else len(self.text))
            if closing >= 0:
                end = closing + 1
        lexeme = self.text[start:end]
        hint = _CHARACTER_HINTS.get(ch)
        if hint is None and ch.isalpha():
            hint = "names are written with ASCII letters, digits, '_' and '-'"
        if ch == "'":
            message = 'unexpected character "\'"'
        else:
            shown = _show(ch) if end == start + 1 else f"'{lexeme}'"
            message = f"unexpected character {shown}"
        self.error(start, end, message, hint)
        self.emit(sink, INVALID, lexeme, start, end)
        self.pos = end

    # ------------------------------------------------------------------ numbers

    def number(self, sink: list[Token]) -> None:
        text, start = self.text, self.pos
        match = _NUMBER.match(text, start)
        assert match is not None
        end = match.end()
        digits = match.group("digits")
        kind = "FLOAT" if match.group("frac") or match.group("exp") else "INT"
        if match.group("unit"):
            kind = "DURATION"
        value = match.group()
        tail = _IDENT_TAIL.match(text, end)
        if tail is not None:
            # `3x`, `5sec`, `1.5s`: one bad lexeme, reported once.
            end = tail.end()
            self.error(
                start,
                end,
                f"invalid number '{text[start:end]}'",
                "put a space between a number and a name; durations are written like "
                "200ms, 3s, 1min, 2h or 1d",
            )
            value = _placeholder(kind)
        elif len(digits) > 1 and digits[0] == "0":
            self.error(start, end, f"leading zeros are not allowed in '{value}'")
        elif kind == "INT" and (len(digits) > 19 or int(digits) > INT_MAX):
            self.error(
                start,
                end,
                f"integer '{value}' is out of range",
                f"an Int is at most {INT_MAX}",
            )
            value = _placeholder(kind)
        elif kind == "FLOAT" and float(value) in (float("inf"), float("-inf")):
            self.error(start, end, f"float '{value}' is out of range", "a Float must be finite")
        elif kind == "DURATION" and (
            len(digits) > 19 or int(digits) * MILLIS[match.group("unit")] > INT_MAX
        ):
            self.error(start, end, f"duration '{value}' is out of range")
            value = _placeholder(kind)
        self.emit(sink, kind, value, start, end)
        self.pos = end

    # ------------------------------------------------------------------ strings

    def string_step(self, frame: _StringFrame) -> None:
        """Scan a run of text or one special character of an open string literal."""
        text, start = self.text, self.pos
        run = _STRING_RUN.match(text, start)
        if run is not None:
            frame.text.append(run.group())
            self.pos = run.end()
            return
        ch = text[start]
        if ch == '"':
            self.close_string(frame)
        elif ch == "\\":
            self.escape(frame)
        elif ch == "$":
            if text.startswith("{", start + 1):
                self.open_interpolation(frame)
            else:
                frame.text.append("$")
                self.pos = start + 1
        elif ch == "\n" or text.startswith("\r\n", start):
            self.unterminated()
        else:
            self.control_character(start)
            self.pos = start + 1

    def escape(self, frame: _StringFrame) -> None:
        text, start = self.text, self.pos
        if start + 1 >= len(text) or text.startswith(("\n", "\r\n"), start + 1):
            # The backslash is the last character of the line: the quote is missing.
            self.pos = start + 1
            self.unterminated()
            return
        letter = text[start + 1]
        simple = _SIMPLE_ESCAPES.get(letter)
        if simple is not None:
            frame.text.append(simple)
            self.pos = start + 2
            return
        if letter != "u":
            shown = f"'\\{letter}'" if letter.isprintable() else f"of U+{ord(letter):04X}"
            self.error(start, start + 2, f"unknown escape {shown}", _ESCAPE_HINT)
            self.pos = start + 2
            return
        braced = _BRACED_HEX.match(text, start + 2)
        plain = _HEX4.match(text, start + 2)
        found = braced or plain
        if found is None:
            end = start + 2
            braces = text.startswith("{", end)
            if braces:
                end += 1
            while end < len(text) and end < start + 10 and text[end] in _HEX_DIGITS:
                end += 1
            if braces and text.startswith("}", end):
                end += 1
            lexeme = text[start:end]
            self.error(start, end, f"invalid unicode escape '{lexeme}'", _UNICODE_HINT)
            self.pos = end
            return
        end = found.end()
        code = int(found.group(1) if braced else found.group(), 16)
        lexeme = text[start:end]
        if 0xD800 <= code <= 0xDFFF:
            self.error(
                start,
                end,
                f"invalid unicode escape '{lexeme}': surrogates are not characters",
            )
        elif code > 0x10FFFF:
            self.error(
                start, end, f"invalid unicode escape '{lexeme}': the largest code point is 10FFFF"
            )
        else:
            frame.text.append(chr(code))
        self.pos = end

    def open_interpolation(self, frame: _StringFrame) -> None:
        start = self.pos
        if frame.text:
            frame.parts.append("".join(frame.text))
            frame.text.clear()
        segment = Segment(self.span(start, start + 2))
        frame.parts.append(segment)
        self.stack.append(_InterpFrame(segment))
        self.pos = start + 2

    def close_interpolation(self, interp: _InterpFrame) -> None:
        start = self.pos
        segment = interp.segment
        segment.closing = self.span(start, start + 1)
        segment.closing_pos = start
        if not segment.tokens:
            segment.empty = True
            opening = segment.opening
            self.diagnostics.append(
                Diagnostic.at(
                    "E020",
                    Span(opening.line, opening.column, self.line, segment.closing.end_column),
                    "empty interpolation '${}'",
                    "put an expression inside, or write '\\${' for a literal '${'",
                )
            )
        self.stack.pop()
        self.pos = start + 1

    def close_string(self, frame: _StringFrame) -> None:
        end = self.pos + 1
        if frame.text:
            frame.parts.append("".join(frame.text))
        token = Token(
            "STRING",
            _excerpt(self.text, frame.quote, end),
            frame.quote,
            frame.line,
            frame.column,
            self.line,
            end - self.line_start + 1,
            end,
        )
        frame.sink.append(token)
        self.strings.append(LexedString(token, frame.parts))
        self.stack.pop()
        self.pos = end

    def unterminated(self) -> None:
        """End of line (or input) inside a string: report it and drop every open level."""
        innermost = next(f for f in reversed(self.stack) if isinstance(f, _StringFrame))
        self.diagnostics.append(
            Diagnostic.at(
                "E020",
                Span(innermost.line, innermost.column, self.line, self.pos - self.line_start + 1),
                "unterminated string",
                "close the string with '\"' on the same line; write '\\n' for a line break",
            )
        )
        outermost = self.stack[0]
        assert isinstance(outermost, _StringFrame)
        # One STRING token for the whole broken literal keeps the parser going.
        token = Token(
            "STRING",
            _excerpt(self.text, outermost.quote, self.pos),
            outermost.quote,
            outermost.line,
            outermost.column,
            self.line,
            self.pos - self.line_start + 1,
            self.pos,
        )
        outermost.sink.append(token)
        self.strings.append(LexedString(token, [], terminated=False))
        self.stack.clear()


_ESCAPE_HINT = 'the escapes are \\" \\\\ \\n \\t \\r \\$ \\uXXXX and \\u{X…}'
_UNICODE_HINT = "write \\uXXXX with exactly 4 hex digits, or \\u{X…} with 1 to 6"


def _excerpt(text: str, start: int, end: int) -> str:
    """The value of a STRING token: its text, shortened (it only ever shows in messages).

    Copying whole literals would make nested ones cost quadratic memory.
    """
    if end - start <= 40:
        return text[start:end]
    return text[start : start + 20] + '…"'


def _placeholder(kind: str) -> str:
    """A valid value for a number token already reported as malformed."""
    return {"INT": "0", "FLOAT": "0.0", "DURATION": "0ms"}[kind]
