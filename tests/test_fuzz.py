"""Property tests of the whole front end (reliability.md 18–20): parse, check and compile."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constellation import CompileError, Engine, Limits
from tests.conftest import make_registry
from tests.strategies import GRAMMAR_PROGRAMS, PIECES

ENGINE = Engine(make_registry())


def compile_cleanly(text: str) -> str | None:
    """Compile ``text``: a pipeline's hash, or None after diagnostics that all have positions."""
    start = time.perf_counter()
    failure: CompileError | None = None
    try:
        pipeline = ENGINE.compile(text)
    except CompileError as err:
        failure = err
    assert time.perf_counter() - start < 1.0
    if failure is not None:
        assert failure.errors, "a CompileError must carry at least one error"
        for d in failure.diagnostics:
            assert d.line >= 1
            assert d.column >= 1
            assert d.message
        return None
    again = Engine(make_registry()).compile(text)
    assert again.structural_hash == pipeline.structural_hash
    return pipeline.structural_hash


_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@_SETTINGS
@given(GRAMMAR_PROGRAMS)
def test_generated_programs_compile_or_give_diagnostics(text: str) -> None:
    """Programs from the real grammar compile to a stable hash or give positioned diagnostics."""
    compile_cleanly(text)


@pytest.mark.long
@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(GRAMMAR_PROGRAMS)
def test_generated_programs_compile_or_give_diagnostics_long(text: str) -> None:
    """The same property over at least 500 programs."""
    compile_cleanly(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join) | st.text(max_size=80))
def test_garbage_gives_only_diagnostics(text: str) -> None:
    """Random text and token soup never raise anything but CompileError."""
    compile_cleanly(text)


@pytest.mark.parametrize("opener", ["(", "[", "{a: ", "-", "not "])
def test_deep_nesting_is_a_limit_diagnostic(opener: str) -> None:
    """100,000 nested openers give E040 quickly, never RecursionError (reliability.md 20)."""
    text = "x = " + opener * 100_000 + "1\nout x\n"
    with pytest.raises(CompileError) as info:
        compile_cleanly_raw(text)
    assert [d.code for d in info.value.diagnostics] == ["E040"]


def compile_cleanly_raw(text: str) -> None:
    start = time.perf_counter()
    try:
        ENGINE.compile(text)
    finally:
        assert time.perf_counter() - start < 5.0


def test_programs_at_the_depth_limit_compile() -> None:
    """Nesting exactly at the limit compiles through every phase; one more is E040."""
    engine = Engine(make_registry(), limits=Limits(max_nesting_depth=256))
    at_limit = "x = " + "(" * 255 + "1" + ")" * 255 + "\nout x\n"
    assert len(engine.compile(at_limit).structural_hash) == 64
    over = "x = " + "(" * 256 + "1" + ")" * 256 + "\nout x\n"
    with pytest.raises(CompileError) as info:
        engine.compile(over)
    assert info.value.diagnostics[0].message == "nesting depth exceeds the limit of 256"


def test_deep_arithmetic_at_the_limit_compiles() -> None:
    """A left-deep chain of 255 additions (depth 256) compiles: no phase recurses too far."""
    text = "in a: Int\nx = a" + " + a" * 255 + "\nout x\n"
    assert len(ENGINE.compile(text).structural_hash) == 64


def test_size_limit() -> None:
    """A source over max_source_bytes is E040 at 1:1."""
    engine = Engine(make_registry(), limits=Limits(max_source_bytes=100))
    with pytest.raises(CompileError) as info:
        engine.compile("in a: Int\nout a\n" + "#" * 100)
    (d,) = info.value.diagnostics
    assert (d.code, d.line, d.column) == ("E040", 1, 1)


HASH_SCRIPT = """
import sys
from constellation import Engine
from tests.conftest import make_registry
print(Engine(make_registry()).compile(sys.stdin.read()).structural_hash)
"""


def test_structural_hash_is_the_same_in_another_process() -> None:
    """The hash depends on nothing process-specific (hash seeds, dict order, ids)."""
    text = (
        'type R = {b: Int, a: String}\nin r: R\nin xs: List<Int>\n'
        'y = map(xs, (x) => x * 2.5)\nz = r{a, b}\nw = Uppercase(r.a) with retry: 2, timeout: 1min\n'
        "out y\nout z\nout w\n"
    )
    here = ENGINE.compile(text).structural_hash
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", HASH_SCRIPT],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            cwd=Path(__file__).parent.parent,
        )
        assert out.stdout.strip() == here
