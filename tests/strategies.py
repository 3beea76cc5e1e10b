"""Hypothesis strategies shared by the parser and compiler property tests."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark
from lark.lexer import PatternStr

from constellation.parser import GRAMMAR_PATH


def _spaced(text: str) -> str:
    return f" {text} "


def _grammar_strategies() -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
    """Programs and expressions generated from the real grammar.

    Words and numbers are spaced so that they stay apart (the generator would glue `in` and
    `x` into `inx`), and strings are drawn from a few samples with interpolations.
    """
    grammar = Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="basic",
        start=["start", "interp"],
    )
    words = {
        term.name: st.just(_spaced(term.pattern.value))
        for term in grammar.terminals
        if isinstance(term.pattern, PatternStr) and term.pattern.value.isidentifier()
    }
    words["NAME"] = st.from_regex(r"\A[a-z][a-z0-9]{0,3}(-[a-z0-9]{1,2})?\Z").map(_spaced)
    words["INT"] = st.integers(0, 10**6).map(str).map(_spaced)
    words["FLOAT"] = st.floats(0, 1e6).map(repr).map(_spaced)
    words["DURATION"] = st.sampled_from(["200ms", "3s", "1min", "2h", "1d"]).map(_spaced)
    words["STRING"] = st.sampled_from(['"a"', '"${x}"', '"b ${ "c${d}" } e"', '"\\n"']).map(_spaced)
    words["COMMENT"] = st.just("# c\n")
    programs = from_lark(grammar, start="start", explicit=words)
    expressions = from_lark(grammar, start="interp", explicit=words)
    return programs, expressions.map(lambda e: f"x = {e}\nout x\n")


GRAMMAR_PROGRAMS = st.one_of(*_grammar_strategies())


_WORDS = (
    "x in out type = ( ) [ ] { } , . : -> => + - * / < > == ?? | @doc with when if else branch "
    'match otherwise _ is 1 0042 2.5 3s 3x " "${ }" \\ \\u{ # é ; ! ? $'
)
# Fragments of programs, right and wrong, for the token soup.
PIECES = st.sampled_from(
    (
        *_WORDS.split(),
        *("\n", " ", "\t", "\r", "\x00", "\r\n"),
    )
)
