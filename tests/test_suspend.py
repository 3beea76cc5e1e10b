"""Cold and suspended modes through the engine: names, refs, suspension, resume (engine.md §3, §6)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation import Engine, ExecutionExpired, InputError, NotFound, ResumeConflict
from constellation.modules import Registry
from constellation.store import MemoryStore
from constellation.tinydb_store import TinyDBStore

APPROVAL = """
in text: String
in approval: Boolean
summary = Summarize(text)
approved = summary when approval
out summary
out approved
"""


@pytest.fixture
def calls() -> dict[str, int]:
    return {}


@pytest.fixture
def registry(calls: dict[str, int]) -> Registry:
    reg = Registry()

    @reg.module
    def Summarize(text: str) -> str:
        calls["Summarize"] = calls.get("Summarize", 0) + 1
        return text[:5]

    @reg.module
    def Fee(x: int) -> int:
        calls["Fee"] = calls.get("Fee", 0) + 1
        return x * 10

    return reg


@pytest.fixture(params=["memory", "tinydb"])
def engine(request: pytest.FixtureRequest, registry: Registry, tmp_path: Path) -> Iterator[Engine]:
    store = MemoryStore() if request.param == "memory" else TinyDBStore(tmp_path / "store")
    e = Engine(registry, store=store)
    yield e
    e.close()


def test_compile_by_name_and_execute_cold(engine: Engine) -> None:
    """A named pipeline executes by name, by hash and by sha256:hash."""
    pipeline = engine.compile(APPROVAL, name="approve")
    for ref in ("approve", pipeline.structural_hash, f"sha256:{pipeline.structural_hash}"):
        result = engine.execute(ref, {"text": "hello world", "approval": True})
        assert result.outputs == {"summary": "hello", "approved": "hello"}


def test_hash_from_a_hot_run_executes_cold(engine: Engine) -> None:
    result = engine.run(APPROVAL, {"text": "abc", "approval": False})
    again = engine.execute(result.structural_hash, {"text": "abc", "approval": True})
    assert again.outputs["approved"] == "abc"


def test_unknown_refs(engine: Engine) -> None:
    with pytest.raises(NotFound, match=r"^No pipeline named 'nope': compile it with that name first$"):
        engine.execute("nope")
    with pytest.raises(NotFound, match="No pipeline with hash"):
        engine.execute("0" * 64)
    with pytest.raises(InputError, match="Invalid pipeline name"):
        engine.compile(APPROVAL, name="-bad")


def test_suspend_then_resume_without_rerunning(engine: Engine, calls: dict[str, int]) -> None:
    """The suspended run saves its progress; resume completes it and runs nothing twice."""
    first = engine.run(APPROVAL, {"text": "hello world"})
    assert first.status == "suspended"
    assert calls == {"Summarize": 1}
    done = engine.resume(first.execution_id, {"approval": True})
    assert done.status == "completed"
    assert done.execution_id == first.execution_id
    assert done.resumption_count == 1
    assert done.outputs == {"summary": "hello", "approved": "hello"}
    assert calls == {"Summarize": 1}
    with pytest.raises(InputError, match="already completed"):
        engine.resume(first.execution_id, {"approval": False})


def test_multi_stage_resume(engine: Engine, calls: dict[str, int]) -> None:
    """Resuming with part of the missing inputs suspends again."""
    src = "in a: Int\nin b: Int\nin c: Int\nx = Fee(a)\ny = Fee(x + b)\nz = y + c\nout z\n"
    r0 = engine.run(src, {"a": 1})
    r1 = engine.resume(r0.execution_id, {"b": 2})
    assert (r1.status, r1.resumption_count, dict(r1.missing_inputs)) == ("suspended", 1, {"c": "Int"})
    r2 = engine.resume(r0.execution_id, {"c": 3})
    assert (r2.status, r2.outputs, r2.resumption_count) == ("completed", {"z": 123}, 2)
    assert calls == {"Fee": 2}


def test_each_stage_lists_only_the_module_calls_it_made(engine: Engine) -> None:
    """``calls``: a resumption does not list the calls of earlier stages, and a stage that
    only adds numbers lists none."""
    src = "in a: Int\nin b: Int\nin c: Int\nx = Fee(a)\ny = Fee(x + b)\nz = y + c\nout z\n"
    r0 = engine.run(src, {"a": 1})
    r1 = engine.resume(r0.execution_id, {"b": 2})
    r2 = engine.resume(r0.execution_id, {"c": 3})
    for stage in (r0, r1):
        [call] = stage.calls
        assert (call.module, call.failed) == ("Fee", False)
        assert call.duration_ms is not None
        assert call.duration_ms >= 0
    assert r2.calls == ()


def test_failed_calls_are_listed_once_and_their_dependants_are_not() -> None:
    reg = Registry()

    @reg.module
    def Boom(x: int) -> int:
        raise ValueError("no")

    @reg.module
    def Double(x: int) -> int:
        return 2 * x

    engine = Engine(reg)
    result = engine.run("in a: Int\nb = Double(a)\nc = Boom(b)\nd = Double(c)\nout d\n", {"a": 1})
    engine.close()
    assert result.status == "failed"
    assert [(c.module, c.failed) for c in result.calls] == [("Double", False), ("Boom", True)]
    assert all(c.duration_ms is not None for c in result.calls)


def test_bad_resume_inputs_leave_the_execution_unchanged(engine: Engine) -> None:
    """Unknown, already provided and mistyped inputs are InputErrors; the record is untouched."""
    first = engine.run(APPROVAL, {"text": "hi"})
    before = engine.store.get_execution(first.execution_id)
    with pytest.raises(InputError, match=r"^Unknown input 'aproval': Did you mean 'approval'\?$"):
        engine.resume(first.execution_id, {"aproval": True})
    with pytest.raises(InputError, match=r"^Input 'text' was already provided"):
        engine.resume(first.execution_id, {"text": "again"})
    with pytest.raises(InputError, match=r"^Input 'approval': expected Boolean, got String"):
        engine.resume(first.execution_id, {"approval": "yes"})
    with pytest.raises(NotFound):
        engine.resume("f" * 32, {"approval": True})
    assert engine.store.get_execution(first.execution_id) == before


def test_resolved_nodes(engine: Engine, calls: dict[str, int]) -> None:
    """An intermediate value can be supplied instead of computed."""
    first = engine.run(APPROVAL, {})
    done = engine.resume(first.execution_id, {"approval": True}, resolved_nodes={"summary": "given"})
    assert done.outputs == {"summary": "given", "approved": "given"}
    assert calls == {}


def test_resume_runs_the_pinned_pipeline(engine: Engine) -> None:
    """A suspended execution resumes against the image it started with (reliability 14)."""
    engine.compile("in a: Int\nin b: Int\nx = a + b\nout x\n", name="p")
    first = engine.execute("p", {"a": 1})
    engine.compile("in a: Int\nin b: Int\nx = a * b\nout x\n", name="p")
    assert engine.resume(first.execution_id, {"b": 5}).outputs == {"x": 6}
    assert engine.execute("p", {"a": 2, "b": 5}).outputs == {"x": 10}


def test_versions_and_rollback(engine: Engine) -> None:
    engine.compile("in a: Int\nout a\n", name="p")
    engine.compile("in a: Int\nout a\n", name="p")  # same hash: no new version
    engine.compile("in a: Int\nx = a + 1\nout x\n", name="p")
    assert [v.version for v in engine.store.name_versions("p")] == [1, 2]
    back = engine.rollback("p")
    assert back.version == 1
    assert engine.execute("p", {"a": 4}).outputs == {"a": 4}
    with pytest.raises(InputError, match="nothing to roll back to"):
        engine.rollback("p")


def test_deleting_a_pinned_image_is_refused(engine: Engine) -> None:
    first = engine.run(APPROVAL, {"text": "x"})
    with pytest.raises(InputError, match="needed by suspended executions"):
        engine.delete_pipeline(first.structural_hash)


def test_expired_executions(registry: Registry) -> None:
    """Past the TTL a suspended execution answers ExecutionExpired (injected wall clock)."""
    t = [1000.0]
    e = Engine(registry, suspended_ttl=60, wall_clock=lambda: t[0])
    first = e.run(APPROVAL, {"text": "x"})
    t[0] += 61
    with pytest.raises(ExecutionExpired, match="expired"):
        e.resume(first.execution_id, {"approval": True})
    with pytest.raises(ExecutionExpired):
        e.execution(first.execution_id)
    t[0] += e.store.retention_seconds + 1
    assert e.prune() == 1
    with pytest.raises(NotFound):
        e.execution(first.execution_id)
    e.close()


def test_exactly_one_concurrent_resume_wins(registry: Registry, calls: dict[str, int]) -> None:
    """Eight threads resume one execution: one completes, seven get ResumeConflict or
    'already completed'; the module after the suspension point runs once."""
    gate = threading.Event()

    @registry.module
    def Slow(x: int) -> int:
        gate.wait(timeout=10)
        calls["Slow"] = calls.get("Slow", 0) + 1
        return x

    e = Engine(registry)
    first = e.run("in a: Int\nx = Slow(a)\nout x\n", {})
    outcomes: list[str] = []
    lock = threading.Lock()

    def resume() -> None:
        try:
            e.resume(first.execution_id, {"a": 1})
            outcome = "ok"
        except ResumeConflict:
            outcome = "conflict"
        except InputError:
            outcome = "finished"
        with lock:
            outcomes.append(outcome)
            if len(outcomes) == 7:
                gate.set()

    threads = [threading.Thread(target=resume) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    assert calls["Slow"] == 1
    e.close()


def test_tampered_store_gives_clear_errors(registry: Registry) -> None:
    """An image naming an unregistered module, or altered content, is refused (reliability 16)."""
    import dataclasses
    import json as json_module

    from constellation import StoreError
    from constellation.evaluate import PlanError

    store = MemoryStore()
    writer = Engine(registry, store=store)
    pipeline = writer.compile("in t: String\ns = Summarize(t)\nout s\n", name="s")
    reader = Engine(Registry(), store=store)
    with pytest.raises(PlanError, match="calls the module 'Summarize', which is not registered"):
        reader.execute("s", {"t": "x"})
    image = store.get_image(pipeline.structural_hash)
    assert image is not None
    altered = json_module.loads(json_module.dumps(dict(image.ir)).replace('"Summarize"', '"Summarise"'))
    store.delete_image(pipeline.structural_hash)
    store.put_image(dataclasses.replace(image, ir=altered))
    fresh = Engine(registry, store=store)
    with pytest.raises(StoreError, match="compile"):
        fresh.execute(pipeline.structural_hash, {"t": "x"})
    for e in (writer, reader, fresh):
        e.close()


@pytest.mark.parametrize("split", [0, 1, 2, 3])
def test_splitting_inputs_over_calls_gives_the_same_outputs(registry: Registry, split: int) -> None:
    """Giving the inputs over one, two or three calls ends with the outputs of one run."""
    src = (
        "in a: Int\nin b: Int\nin c: Int\n"
        "x = Fee(a)\ny = if (b > 2) Fee(x) else x + c\nz = y + b\nout x\nout z\n"
    )
    inputs = {"a": 1, "b": 3, "c": 5}
    e = Engine(registry)
    whole = e.run(src, inputs)
    names = list(inputs)
    parts = [p for p in ([names[:split], names[split:]] if split else [names]) if p]
    result = e.run(src, {n: inputs[n] for n in parts[0]})
    for part in parts[1:]:
        if result.status != "suspended":  # it needed fewer inputs than were left to give
            break
        result = e.resume(result.execution_id, {n: inputs[n] for n in part})
    assert result.status == "completed"
    assert result.outputs == whole.outputs
    e.close()


def test_missing_inputs_follow_what_is_known(engine: Engine) -> None:
    """§5.4's example: an unknown condition keeps both arms; a decided one only its arm."""
    src = (
        "in weight: Int\nin limit: Int\nin heavyFee: Int\nin flatFee: Int\n"
        "fee = branch { weight > limit -> heavyFee, otherwise -> flatFee }\nout fee\n"
    )
    first = engine.run(src, {"weight": 5})
    assert dict(first.missing_inputs) == {"limit": "Int", "heavyFee": "Int", "flatFee": "Int"}
    second = engine.resume(first.execution_id, {"limit": 10})
    assert dict(second.missing_inputs) == {"flatFee": "Int"}
    assert engine.resume(first.execution_id, {"flatFee": 3}).outputs == {"fee": 3}


def test_short_circuits_and_present_coalesce_need_nothing(engine: Engine) -> None:
    """An input behind a decided `and`, or the right side of a present `??`, is not missing."""
    src = "in a: Boolean\nin b: Boolean\nin o: Optional<Int>\nin d: Int\nin e: Int\nx = a and b\ny = o ?? d\nz = x when e > 0\nout y\nout z\n"
    result = engine.run(src, {"a": False, "o": 4})
    assert result.status == "suspended"
    assert dict(result.missing_inputs) == {"e": "Int"}


def test_cold_execution_never_parses_or_checks(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh engine executes a stored image without the parser or the checker."""
    from constellation import frontend

    store = MemoryStore()
    Engine(registry, store=store).compile(APPROVAL, name="approve")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the front end ran during a cold execution")

    monkeypatch.setattr(frontend, "parse", forbidden)
    monkeypatch.setattr(frontend, "check", forbidden)
    cold = Engine(registry, store=store)
    assert cold.execute("approve", {"text": "cold!", "approval": True}).outputs["approved"] == "cold!"
    cold.close()


def test_input_schema_carries_docs_and_examples(engine: Engine) -> None:
    """The schema of missing inputs has @doc as description and @example values."""
    src = '@doc("Who approves")\n@example(true)\nin ok: Boolean\nout ok\n'
    result = engine.run(src)
    assert result.input_schema == {
        "type": "object",
        "properties": {"ok": {"type": "boolean", "description": "Who approves", "examples": [True]}},
        "required": ["ok"],
    }
