"""The documentation's examples run: constellation blocks compile, the README tour executes."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from constellation import Engine
from tests.conftest import make_registry

ROOT = Path(__file__).parent.parent
BLOCK = re.compile(r"```(?P<lang>\w+)\n(?P<body>.*?)```", re.DOTALL)


def blocks(path: Path, lang: str) -> list[str]:
    return [m["body"] for m in BLOCK.finditer(path.read_text(encoding="utf-8")) if m["lang"] == lang]


LANGUAGE_BLOCKS = blocks(ROOT / "docs" / "language.md", "constellation")


def test_the_language_guide_has_examples() -> None:
    assert len(LANGUAGE_BLOCKS) >= 3


@pytest.mark.parametrize("text", LANGUAGE_BLOCKS)
def test_language_guide_examples_compile(text: str) -> None:
    """Each constellation block of docs/language.md compiles without errors or warnings."""
    engine = Engine(make_registry())
    assert engine.check(text) == ()
    assert engine.compile(text).outputs


def test_readme_tour_runs() -> None:
    """The README's Python tour runs and prints what its comment says."""
    (code,) = blocks(ROOT / "README.md", "python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"[0-9a-f]{64}", lines[0])
    assert lines[1] == "digraph pipeline {"
    assert "completed {'greeting': 'HELLO, ADA!'}" in lines
    assert lines[-1] == "E001 2 9 undefined variable 'm' did you mean 'n'?"


def test_engine_guide_python_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python examples of docs/engine.md run in order and do what their comments state."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "engine_guide"}
    first, second = blocks(ROOT / "docs" / "engine.md", "python")
    exec(compile(first, "docs/engine.md", "exec"), namespace)
    assert namespace["result"].status == "completed"
    assert namespace["result"].outputs == {"u": "HI"}
    namespace["engine"].close()
    exec(compile(second, "docs/engine.md", "exec"), namespace)
    engine = namespace["engine"]
    try:
        assert namespace["first"].status == "suspended"
        assert namespace["done"].outputs == {"approved": "…"}
        assert namespace["done"].resumption_count == 1
        assert engine.store.get_name("approve").version == 1
    finally:
        engine.close()
