"""Engine.check and Engine.compile: diagnostics, CompileError, the compile cache."""

from __future__ import annotations

import asyncio

import pytest

from constellation import CompileError, Engine, Limits, NotFound
from constellation.modules import Registry
from tests.conftest import make_registry

HELLO = 'in text: String\nshout = Uppercase(trim(text))\nout shout\n'


def test_check_returns_warnings_without_raising() -> None:
    """check() lists warnings as well as errors and never raises for a bad program."""
    engine = Engine(make_registry())
    codes = [d.code for d in engine.check("in a: Int\nin b: Int\nout a\nx = q\n")]
    assert codes == ["W002", "W001", "E001"]


def test_compile_raises_with_every_diagnostic_rendered() -> None:
    """CompileError carries all diagnostics and renders each with a caret excerpt."""
    engine = Engine(make_registry())
    with pytest.raises(CompileError) as info:
        engine.compile("in a: Int\nx = a + b\ny = Uppercase(a)\nout x\nout y\n")
    err = info.value
    assert [(d.code, d.line, d.column) for d in err.errors] == [("E001", 2, 9), ("E010", 3, 15)]
    text = str(err)
    assert text.startswith("2 errors in <source>")
    assert " 2 | x = a + b\n   |         ^" in text


def test_same_source_compiles_to_the_cached_pipeline() -> None:
    """A second compile of the same text returns the same object."""
    engine = Engine(make_registry())
    assert engine.compile(HELLO) is engine.compile(HELLO)


def test_reregistering_a_module_invalidates_the_cache() -> None:
    """A module re-registered with another signature is compiled against anew."""
    reg = Registry()

    @reg.module
    def Uppercase(text: str) -> str:
        return text.upper()

    engine = Engine(reg)
    first = engine.compile(HELLO)

    @reg.module(name="Uppercase")
    def uppercase_v2(text: str) -> int:
        return len(text)

    second = engine.compile(HELLO)
    assert second is not first
    assert second.structural_hash != first.structural_hash


def test_diagnostic_limit_truncates_and_counts() -> None:
    """Beyond max_diagnostics only the first are kept, and the error says how many more."""
    engine = Engine(make_registry(), limits=Limits(max_diagnostics=3))
    source = "\n".join(f"x{i} = nope{i}" for i in range(10)) + "\nout x0\n"
    assert len(engine.check(source)) == 3
    with pytest.raises(CompileError) as info:
        engine.compile(source)
    assert info.value.omitted > 0
    assert "more not shown" in str(info.value)


def test_hot_and_repeat_compiles_share_the_structural_hash() -> None:
    """Equivalent sources (comments, order, spelling) share one structural hash."""
    engine = Engine(make_registry())
    a = engine.compile(HELLO)
    b = engine.compile("# shout it\nout shout\nshout = Uppercase( trim(text) )\nin text: String\n")
    assert a.structural_hash == b.structural_hash
    assert a.syntactic_hash != b.syntactic_hash


def test_compile_cache_counts_hits_and_misses() -> None:
    """Each compile of new text is a miss, each repeat a hit (the service's metrics read these)."""
    engine = Engine(make_registry())
    source = "in a: Int\nout a"
    engine.compile(source)
    engine.compile(source)
    engine.run(source, {"a": 1})
    engine.compile(source + "\n")
    assert (engine.compile_cache_hits, engine.compile_cache_misses) == (2, 2)


def test_pipeline_by_reference() -> None:
    """engine.pipeline resolves a name, a hash and sha256:hash to the stored pipeline."""
    engine = Engine(make_registry())
    compiled = engine.compile("in a: Int\nout a", name="ident")
    for ref in ("ident", compiled.structural_hash, "sha256:" + compiled.structural_hash):
        assert engine.pipeline(ref).structural_hash == compiled.structural_hash
    with pytest.raises(NotFound, match="nope"):
        engine.pipeline("nope")


def _stuck_registry() -> Registry:
    reg = make_registry()

    @reg.module
    async def Stuck(text: str) -> str:
        await asyncio.Event().wait()  # never set: only the time limit ends it
        return text

    return reg


STUCK = "in t: String\nquick = Uppercase(t)\nslow = Stuck(t)\nout quick\nout slow"


def test_execution_time_limit_fails_the_execution_cleanly() -> None:
    """Past execution_timeout the waiting call is cancelled and the execution fails, naming
    the limit and the call; what finished before is kept."""
    engine = Engine(_stuck_registry(), execution_timeout=0.05)
    result = engine.run(STUCK, {"t": "x"})
    assert result.status == "failed"
    assert result.outputs == {"quick": "X"}
    (error,) = result.errors
    assert (error.node, error.module, error.line) == ("slow", "Stuck", 3)
    assert error.message == "the execution exceeded its time limit of 0.05 s"
    engine.close()


def test_execution_time_limit_applies_to_the_async_api() -> None:
    """arun obeys the same limit on the caller's loop."""
    engine = Engine(_stuck_registry(), execution_timeout=0.05)
    result = asyncio.run(engine.arun(STUCK, {"t": "x"}))
    assert result.status == "failed"
    assert "time limit of 0.05 s" in (result.error or "")
    engine.close()


def test_execution_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="execution_timeout must be positive"):
        Engine(execution_timeout=0)
