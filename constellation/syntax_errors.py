"""Friendly syntax errors: a token the parser refused → an E020 diagnostic (language.md §10).

When lark's LALR parser refuses a token, :func:`syntax_error` words the E020: the token
in quotes, then either the reason (``comparisons do not chain``) or what was expected, phrased
for a reader (``an expression``, ``a type``, ``',' or ')'``) rather than as lark's set of
terminal names, and a hint drawn from the tokens around the error (an unfinished declaration
before, the branch or ``with`` clause it stands in). :func:`resume_point` says where the
parser picks up again, so that one run reports every independent error.

Everything here reads tokens and parser states; nothing builds syntax or knows the driver.
"""

from __future__ import annotations

from typing import cast

from lark import Token
from lark.exceptions import LarkError, UnexpectedInput
from lark.parsers.lalr_interactive_parser import InteractiveParser

from constellation.errors import Diagnostic
from constellation.lexer import CLOSERS, INVALID, OPENERS, Vocabulary, token_span

__all__ = ["resume_point", "syntax_error"]


def syntax_error(
    parser: InteractiveParser,
    error: UnexpectedInput,
    tokens: list[Token],
    index: int,
    start: int,
    end: Token,
    end_text: str,
    vocabulary: Vocabulary,
) -> Diagnostic | None:
    """The E020 for ``tokens[index]`` (``end`` past the last one), which ``parser`` refused.

    ``start`` is the index the parse began at (tokens before it belong to an earlier,
    failed declaration); ``end_text`` names the end in messages (``end of input``, or the
    ``'}'`` of an interpolation). None when the lexer has already reported the token.
    """
    token = tokens[index] if index < len(tokens) else end
    return _diagnose(_accepted(parser, error), tokens, index, start, token, end_text, vocabulary)


def _accepted(parser: InteractiveParser, error: UnexpectedInput) -> set[str]:
    """The terminals the parser could take where it failed.

    Asked of the parser itself: the ``expected`` set of the error is the LALR state's,
    which can hold tokens of other contexts (``else`` outside any ``if``).
    """
    try:
        return set(parser.accepts())  # type: ignore[no-untyped-call]
    except LarkError:
        return set(getattr(error, "expected", None) or ())


def resume_point(tokens: list[Token], index: int, start: int) -> int | None:
    """Where to parse on after an error at ``tokens[index]``: a line that starts a declaration.

    None when no declaration follows.
    """
    if _starts_assignment(tokens, index - 1, start):
        # `b = a +` then `c = 1`: `c` was read as an operand, but it begins the
        # next declaration; parse on from there.
        index -= 1
    return _resync(tokens, max(index, start + 1))


# --------------------------------------------------------------------------- resynchronization


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


def _describe(token: Token, end_text: str) -> str:
    """How a message names a token: its text in quotes."""
    if token.type == "$END":
        return end_text
    text = str(token.value)
    if token.type == "STRING":
        return "string " + (text if len(text) <= 24 else text[:20] + '…"')
    return f"'{text if len(text) <= 30 else text[:28] + '…'}'"


def _name_terminal(name: str, texts: dict[str, str]) -> str:
    special = {"NAME": "a name", "STRING": "a string", "INT": "a number", "FLOAT": "a number"}
    return special.get(name) or f"'{texts.get(name, name.lower())}'"


def _alternatives(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _after_expression(expected: set[str]) -> bool:
    """Whether the parser stands right after a complete expression (operators may follow)."""
    return not expected.isdisjoint(_OPERATORS_AFTER_EXPRESSION)


def _expected_phrase(expected: set[str], end_text: str, vocabulary: Vocabulary) -> str | None:
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
        rest -= {"NAME", *vocabulary.keywords.values()}
    elif {"TYPE", "IN", "OUT", "USE", "AT"} <= rest:
        return None
    elif rest >= _TYPE_STARTS and "INT" not in rest:
        phrases.append("a type")
        rest -= _TYPE_STARTS
    if len(rest) > 4 or (not phrases and not rest and not closing):
        return None
    texts = vocabulary.texts
    ordered = sorted(rest, key=lambda name: _terminal_order(name, texts))
    phrases.extend(_name_terminal(t, texts) for t in ordered)
    return _alternatives(phrases + closing)


def _terminal_order(name: str, texts: dict[str, str]) -> tuple[int, str]:
    # Punctuation first, then words, each alphabetically: stable messages.
    text = texts.get(name, "")
    return (1 if text.isalpha() or not text else 0, text or name)


def _enclosing(tokens: list[Token], index: int, start: int) -> int | None:
    """The index of the innermost bracket still open before ``tokens[index]``."""
    level = 0
    for k in range(index - 1, max(start, index - 10_000) - 1, -1):
        kind = tokens[k].type
        if kind in CLOSERS:
            level += 1
        elif kind in OPENERS:
            if level == 0:
                return k
            level -= 1
    return None


def _seen_since(tokens: list[Token], begin: int, index: int, kind: str) -> bool:
    """Whether a ``kind`` token stands between ``begin`` and ``index`` at bracket level 0."""
    level = 0
    for k in range(begin, index):
        t = tokens[k].type
        if t in OPENERS:
            level += 1
        elif t in CLOSERS:
            level -= 1
        elif t == kind and level == 0:
            return True
    return False


def _diagnose(
    expected: set[str],
    tokens: list[Token],
    index: int,
    start: int,
    token: Token,
    end_text: str,
    vocabulary: Vocabulary,
) -> Diagnostic | None:
    """The E020 for a token the parser cannot take (None if the lexer already reported it)."""
    if token.type == INVALID:
        return None
    previous = tokens[index - 1] if start < index <= len(tokens) else None
    before = tokens[index - 2] if start < index - 1 else None
    span = token_span(token)
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
        return Diagnostic.at("E020", token_span(previous), f"unexpected '{previous.value}'")
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
            and token.type in vocabulary.keywords.values()
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
        phrase = _expected_phrase(expected, end_text, vocabulary)
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
