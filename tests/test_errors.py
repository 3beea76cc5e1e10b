"""Source excerpts and the rendering of diagnostics and compile errors."""

from __future__ import annotations

from constellation.errors import CompileError, Diagnostic
from constellation.source import Source, Span


def test_excerpt_points_a_caret_at_the_span() -> None:
    """The caret line sits under the columns of the span."""
    src = Source("in x: Int\ntotal = subtotl + 1\n", "order.cst")
    assert src.excerpt(2, 9, 2, 16) == " 2 | total = subtotl + 1\n   |         ^^^^^^^"


def test_excerpt_keeps_tabs_aligned() -> None:
    """A tab before the span is repeated in the caret line so terminals align it."""
    src = Source("\tx = y\n")
    assert src.excerpt(1, 6) == " 1 | \tx = y\n   | \t    ^"


def test_excerpt_at_end_of_line_and_crlf() -> None:
    """A span just past the last character still gets one caret; CR is not shown."""
    src = Source("x = (1 +\r\n")
    assert src.excerpt(1, 9) == " 1 | x = (1 +\n   |         ^"


def test_decode_drops_bom_and_reads_utf8() -> None:
    assert Source.decode("\ufeffin x: Int".encode()).text == "in x: Int"


def test_diagnostic_render_with_hint() -> None:
    """`name:line:col: severity code: message`, the excerpt, then the hint."""
    src = Source("out totl\n", "p.cst")
    d = Diagnostic.at(
        "E001", Span(1, 5, 1, 9), "undefined variable 'totl'", "did you mean 'total'?"
    )
    assert d.render(src) == (
        "p.cst:1:5: error E001: undefined variable 'totl'\n"
        " 1 | out totl\n"
        "   |     ^^^^\n"
        "  hint: did you mean 'total'?"
    )
    assert d.severity == "error"
    assert Diagnostic.at("W001", Span(1, 1, 1, 2), "m").severity == "warning"


def test_compile_error_counts_errors_and_mentions_omitted() -> None:
    """str(CompileError) heads with the error count and renders every diagnostic."""
    src = Source("x\n", "a.cst")
    d = Diagnostic.at("E020", Span(1, 1, 1, 2), "unexpected 'x'")
    err = CompileError([d], src, omitted=3)
    text = str(err)
    assert text.startswith("4 errors in a.cst (3 more not shown: the diagnostic limit was reached)")
    assert "a.cst:1:1: error E020: unexpected 'x'" in text
    assert err.diagnostics == (d,)
