"""Source text, spans (1-based line/column ranges) and caret excerpts for diagnostics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A range of source text: from (line, column) inclusive to (end_line, end_column) exclusive.

    Lines and columns are 1-based; columns count Unicode code points, a tab counts as one.
    """

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int) -> Span:
        """A one-character span starting at (line, column)."""
        return Span(line, column, line, column + 1)

    def cover(self, other: Span) -> Span:
        """The smallest span that covers both spans."""
        start = min((self.line, self.column), (other.line, other.column))
        end = max((self.end_line, self.end_column), (other.end_line, other.end_column))
        return Span(start[0], start[1], end[0], end[1])


#: The span of nodes built by hand (tests, generated code): positions are not compared.
NO_SPAN = Span(0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Source:
    """A program's text and the name it is shown under (a file name, a cell, ``<source>``)."""

    text: str
    name: str = "<source>"

    @staticmethod
    def decode(data: str | bytes, name: str = "<source>") -> Source:
        """Accept text or UTF-8 bytes; a leading BOM is dropped (language.md §1.1)."""
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if text.startswith("\ufeff"):
            text = text[1:]
        return Source(text, name)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its terminator ('' when out of range)."""
        lines = self.text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1].rstrip("\r")
        return ""

    def excerpt(self, line: int, column: int, end_line: int = 0, end_column: int = 0) -> str:
        """The source line with a gutter and a caret line under the range that starts there.

        ```
          3 | total = subtotl + 1
            |         ^^^^^^^
        ```
        """
        text = self.line_text(line)
        if end_line != line or end_column <= column:
            end_column = column + 1
        end_column = min(end_column, max(len(text) + 1, column + 1))
        gutter = str(line)
        # Tabs stay tabs in the caret line so the caret lines up in any terminal.
        lead = "".join("\t" if ch == "\t" else " " for ch in text[: max(column - 1, 0)])
        carets = "^" * max(end_column - column, 1)
        pad = " " * len(gutter)
        return f" {gutter} | {text}\n {pad} | {lead}{carets}"
