"""The sample programs under tests/programs compile, or give exactly their expected diagnostics.

`valid/*.cst` must compile; `checks/*.cst` hold programs with type or name errors and list
what they expect in `# expect: CODE line:column message` lines (syntax samples, `invalid/`, are
the parser's: see test_parser.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from constellation import Engine
from constellation.modules import Registry
from tests.conftest import make_registry

PROGRAMS = Path(__file__).parent / "programs"
EXPECT = re.compile(r"^# expect: (?P<code>[EW]\d{3}) (?P<line>\d+):(?P<column>\d+) (?P<message>.*)$")


def registry() -> Registry:
    reg = make_registry()

    @reg.module
    def Classify(text: str) -> str:
        return text[:1]

    @reg.module
    def Summarize(text: str) -> str:
        return text[:10]

    return reg


ENGINE = Engine(registry())


@pytest.mark.parametrize("path", sorted((PROGRAMS / "valid").glob("*.cst")), ids=lambda p: p.name)
def test_valid_programs_compile(path: Path) -> None:
    """Every valid sample compiles without errors."""
    pipeline = ENGINE.compile(path.read_text(encoding="utf-8"))
    assert pipeline.outputs


@pytest.mark.parametrize("path", sorted((PROGRAMS / "checks").glob("*.cst")), ids=lambda p: p.name)
def test_checked_programs_give_their_diagnostics(path: Path) -> None:
    """Each sample gives exactly the diagnostics its `# expect:` lines list, in order."""
    text = path.read_text(encoding="utf-8")
    expected = [
        (m["code"], int(m["line"]), int(m["column"]), m["message"])
        for m in map(EXPECT.match, text.splitlines())
        if m
    ]
    assert expected, f"{path.name} lists no '# expect:' lines"
    got = [(d.code, d.line, d.column, d.message) for d in ENGINE.check(text)]
    assert got == expected
