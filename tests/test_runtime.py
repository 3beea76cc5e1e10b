"""Hot execution of every construct (language.md §4–§6, engine.md §3): outputs, laziness, failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import TypedDict

import pytest

from constellation import Engine, InputError
from constellation.execution import Event, Execution
from constellation.modules import Registry
from tests.conftest import dedent


class Profile(TypedDict):
    score: int


@pytest.fixture
def calls() -> dict[str, int]:
    return {}


@pytest.fixture
def engine(calls: dict[str, int]) -> Iterator[Engine]:
    reg = Registry()

    def count(name: str) -> None:
        calls[name] = calls.get(name, 0) + 1

    @reg.module
    def Uppercase(text: str) -> str:
        count("Uppercase")
        return text.upper()

    @reg.module
    def Double(x: int) -> int:
        count("Double")
        return x * 2

    @reg.module
    def Half(x: float) -> float:
        count("Half")
        return x / 2

    @reg.module
    def Boom(x: int) -> int:
        count("Boom")
        raise ValueError(f"no luck with {x}")

    @reg.module
    def Liar(x: int) -> int:
        return "not a number"  # type: ignore[return-value]

    @reg.module
    async def Slow(x: int) -> int:
        count("Slow")
        await asyncio.sleep(0)
        return x + 1

    @reg.module
    def Fetch(key: str) -> Profile:
        count("Fetch")
        return {"score": len(key)}

    engine = Engine(reg)
    yield engine
    engine.close()


def run(engine: Engine, source: str, **inputs: object) -> Execution:
    return engine.run(dedent(source), inputs)


def outputs(engine: Engine, source: str, **inputs: object) -> dict[str, object]:
    result = run(engine, source, **inputs)
    assert result.status == "completed", result.to_json()
    return dict(result.outputs)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("7 / 2", 3),
        ("-9 / 4", -2),
        ("-9 % 4", -1),
        ("9 % -4", 1),
        ("9 / -4", -2),
        ("7.5 % 2", 1.5),
        ("1 + 2.5", 3.5),
        ("2 * 3 - 1", 5),
        ("4 - -1", 5),
        ("1 == 1.0", True),
        ('"a" < "b" and "B" < "a"', True),
        ("not (1 > 2) or false", True),
        ("{a: 1, b: 2} + {b: 3, c: 4}", {"a": 1, "b": 3, "c": 4}),
        ("[{a: 1}, {a: 2}] + {b: 0}", [{"a": 1, "b": 0}, {"a": 2, "b": 0}]),
        ("{b: 0} + [{a: 1}]", [{"b": 0, "a": 1}]),
        ("[{a: 1}] + [{b: 2}]", [{"a": 1, "b": 2}]),
        ("{a: 1, b: \"x\", c: true}[c, a]", {"c": True, "a": 1}),
        ("[{p: {q: 1}}, {p: {q: 2}}].p.q", [1, 2]),
        ("if (1 < 2) 3 else 0.5", 3.0),
        ("branch { false -> 1, 2 > 1 -> 2, otherwise -> 3 }", 2),
        ("1 when false", None),
        ("(1 when false) ?? 7", 7),
        ("(1 when true) ?? 7", 1),
        ('"n=${1 + 1}, f=${2.0}, l=${[1, 2]}, s=${["a"]}, o=${1 when false}."', 'n=2, f=2.0, l=[1, 2], s=["a"], o=.'),
        ("map([1, 2, 3], (x) => x * 2)", [2, 4, 6]),
        ("filter([1, 2, 3], (x) => x > 1)", [2, 3]),
        ("filter([1, 2], (x: Float) => x > 1.5)", [2]),
        ("all([1, 2], (x) => x > 0)", True),
        ("any([], (x) => x > 0)", False),
        ("map([[1], [2, 3]], (xs) => map(xs, (x) => x + list-length(xs)))", [[2], [4, 5]]),
        ("list-sum([1.5, 2])", 3.5),
        ("list-sum([])", 0),
        ("max(1, 2.5)", 2.5),
        ("round(-2.5)", -3),
        ('split("a,b", ",")', ["a", "b"]),
        ('to-string({id: 3, tags: ["x"]})', '{id: 3, tags: ["x"]}'),
        ("list-concat([1], [2.5])", [1.0, 2.5]),
    ],
)
def test_expressions(engine: Engine, expr: str, expected: object) -> None:
    """Every operator and form evaluates as language.md says."""
    result = outputs(engine, f"x = {expr}\nout x\n")["x"]
    assert result == expected
    assert type(result) is type(expected)


def test_match_binds_fields_and_narrows(engine: Engine) -> None:
    """Record patterns bind fields; `is` patterns test conformance at run time."""
    src = """
        type Event = {orderId: String, amount: Float} | {refundId: String} | {note: String}
        in ev: Event
        in payload: List<String> | String
        text = match ev {
          {orderId, amount} -> "order ${orderId}: ${amount}",
          {refundId}        -> "refund ${refundId}",
          _                 -> "other",
        }
        size = match payload { is List<String> -> list-length(payload), is String -> string-length(payload) }
        out text
        out size
    """
    assert outputs(engine, src, ev={"orderId": "A1", "amount": 3}, payload="hello") == {
        "text": "order A1: 3.0",
        "size": 5,
    }
    assert outputs(engine, src, ev={"refundId": "R"}, payload=["a", "b"]) == {
        "text": "refund R",
        "size": 2,
    }


def test_modules_inputs_and_defaults(engine: Engine) -> None:
    """Modules are called with converted arguments; defaults fill omitted inputs."""
    src = """
        in name: String
        in factor: Float = 2
        shout = Uppercase("hi ${name}")
        half = Half(factor)
        score = Fetch(name).score
        out shout
        out half
        out score
    """
    assert outputs(engine, src, name="ada") == {"shout": "HI ADA", "half": 1.0, "score": 3}


def test_async_modules_run(engine: Engine) -> None:
    """Async modules are awaited (on the engine's loop thread for sync calls)."""
    assert outputs(engine, "in n: Int\nx = Slow(Slow(n))\nout x\n", n=1) == {"x": 3}


def test_arun_inside_a_running_loop(engine: Engine) -> None:
    """arun works on the caller's loop; run works even while a loop is running."""

    async def main() -> tuple[Execution, Execution]:
        a = await engine.arun("in n: Int\nx = Slow(n)\nout x\n", {"n": 1})
        b = engine.run("in n: Int\nx = Slow(n)\nout x\n", {"n": 2})
        return a, b

    a, b = asyncio.run(main())
    assert (a.outputs["x"], b.outputs["x"]) == (2, 3)


def test_unselected_positions_never_run(engine: Engine, calls: dict[str, int]) -> None:
    """Conditional positions run only when selected; unused declarations never run."""
    src = """
        in flag: Boolean
        a = if (flag) Double(1) else Double(2)
        b = Boom(1) when false
        c = (3 when true) ?? Boom(2)
        unused = Boom(3)
        out a
        out b
        out c
    """
    assert outputs(engine, src, flag=True) == {"a": 2, "b": None, "c": 3}
    assert calls == {"Double": 1}


def test_failures_are_isolated(engine: Engine, calls: dict[str, int]) -> None:
    """A failed node fails its dependants only; independent outputs are still returned."""
    src = """
        in n: Int
        bad = Boom(n)
        worse = bad + 1
        good = Double(n)
        out worse
        out good
    """
    result = run(engine, src, n=4)
    assert result.status == "failed"
    assert result.outputs == {"good": 8}
    assert [(e.node, e.module, e.message, e.line, e.column) for e in result.errors] == [
        ("bad", "Boom", "Boom failed: no luck with 4", 2, 7)
    ]
    assert result.error == "Boom failed: no luck with 4 (line 2)"
    states = {n.id: n.state for n in result.nodes}
    assert states["worse"] == "failed"
    assert states["good"] == "completed"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("1 / zero", "division by zero"),
        ("1 % zero", "modulo by zero"),
        ("9223372036854775807 + one", "integer overflow"),
        ("list-first([])", "list-first: the list is empty"),
        ('to-int("abc")', 'to-int: cannot convert "abc" to Int'),
        ("[{a: 1}] + [{b: 1}, {b: 2}]", "cannot merge lists of different lengths (1 and 2)"),
        ("Liar(1)", 'Liar returned String "not a number" where Int was expected'),
    ],
)
def test_failure_messages(engine: Engine, expr: str, message: str) -> None:
    """Run-time failures carry the messages of language.md §5.3."""
    result = run(engine, f"in zero: Int = 0\nin one: Int = 1\nx = {expr}\nout x\n")
    assert result.status == "failed"
    assert message in result.errors[0].message


def test_missing_input_suspends(engine: Engine, calls: dict[str, int]) -> None:
    """Outputs that do not need a missing input are computed; the rest are pending."""
    src = """
        in text: String
        in approval: Boolean
        summary = Uppercase(text)
        approved = summary when approval
        out summary
        out approved
    """
    result = run(engine, src, text="ok")
    assert result.status == "suspended"
    assert result.outputs == {"summary": "OK"}
    assert result.pending_outputs == ("approved",)
    assert result.missing_inputs == {"approval": "Boolean"}
    assert result.input_schema == {
        "type": "object",
        "properties": {"approval": {"type": "boolean"}},
        "required": ["approval"],
    }


def test_input_errors_before_anything_runs(engine: Engine, calls: dict[str, int]) -> None:
    """Unknown names (with a suggestion) and wrong types raise InputError; nothing runs."""
    src = "in count: Int\nx = Double(count)\nout x\n"
    with pytest.raises(InputError, match=r"^Unknown input 'cont': Did you mean 'count'\?$"):
        engine.run(src, {"cont": 1})
    with pytest.raises(
        InputError, match=r"^Input 'count': expected Int, got String \"3\" \(the input is declared as Int\)$"
    ):
        engine.run(src, {"count": "3"})
    assert calls == {}


def test_result_json_shape(engine: Engine) -> None:
    """to_json is the body of engine.md §5, with camelCase keys and nothing omitted."""
    body = run(engine, "in n: Int\nx = Double(n)\nout x\n", n=2).to_json()
    assert set(body) == {
        "success", "status", "executionId", "structuralHash", "outputs", "pendingOutputs",
        "missingInputs", "inputSchema", "resumptionCount", "error", "errors", "warnings", "durationMs",
    }
    assert body["outputs"] == {"x": 4}
    assert body["success"] is True
    assert body["error"] is None
    assert body["errors"] == []


def test_int_keyed_maps_travel_as_pairs(engine: Engine) -> None:
    """Map<Int, V> inputs and outputs use [key, value] pairs in JSON."""
    result = run(engine, "in m: Map<Int, String>\nout m\n", m=[[1, "a"], [2, "b"]])
    assert result.outputs["m"] == {1: "a", 2: "b"}
    assert result.to_json()["outputs"] == {"m": [[1, "a"], [2, "b"]]}


def test_events_reach_listeners(engine: Engine) -> None:
    """Listeners see the execution start and end, and each node's completion."""
    seen: list[Event] = []
    unsubscribe = engine.subscribe(seen.append)
    run(engine, "in n: Int\nx = Double(n)\nout x\n", n=1)
    unsubscribe()
    kinds = [(e.kind, e.node) for e in seen]
    assert kinds[0] == ("execution.started", None)
    assert ("node.started", "x") in kinds
    assert ("node.completed", "x") in kinds
    # Call nodes name their module (metrics count calls per module); others name none.
    assert {(e.node, e.module) for e in seen if e.kind == "node.completed"} == {("x", "Double")}
    assert kinds[-1] == ("execution.completed", None)
    run(engine, "in n: Int\nx = Double(n)\nout x\n", n=1)
    assert len(seen) == len(kinds)


def test_listeners_get_only_the_kinds_they_ask_for(engine: Engine) -> None:
    """subscribe(kinds=…) filters; unknown kinds are refused with the list of kinds."""
    some: list[Event] = []
    every: list[Event] = []
    engine.subscribe(some.append, kinds=["node.completed", "execution.completed"])
    engine.subscribe(every.append)
    run(engine, "in n: Int\nx = Double(n)\nout x\n", n=1)
    assert [(e.kind, e.node) for e in some] == [
        ("node.completed", "x"),
        ("execution.completed", None),
    ]
    assert len(every) > len(some)
    with pytest.raises(ValueError, match=r"unknown event kind 'node\.done'; the kinds are "):
        engine.subscribe(some.append, kinds=["node.done"])


def test_independent_async_modules_overlap() -> None:
    """Twenty independent async modules run concurrently (observed with a barrier, not time)."""
    reg = Registry()
    barrier_hits: list[int] = []
    gate = asyncio.Event()

    @reg.module
    async def Wait(i: int) -> int:
        barrier_hits.append(i)
        if len(barrier_hits) == 20:
            gate.set()
        await gate.wait()  # deadlocks unless all twenty run at once
        return i

    names = [f"w{i}" for i in range(20)]
    src = "".join(f"{n} = Wait({i})\nout {n}\n" for i, n in enumerate(names))
    engine = Engine(reg)

    async def main() -> Execution:
        return await asyncio.wait_for(engine.arun(src), timeout=10)

    result = asyncio.run(main())
    assert result.status == "completed"
    assert sorted(result.outputs.values()) == list(range(20))
    engine.close()


def test_sync_modules_run_in_the_calling_thread(engine: Engine) -> None:
    """A pipeline of plain functions never leaves the caller's thread."""
    reg = Registry()
    threads: list[str] = []

    @reg.module
    def Where(x: int) -> int:
        threads.append(threading.current_thread().name)
        return x

    e = Engine(reg)
    e.run("in n: Int\nx = Where(n)\nout x\n", {"n": 1})
    assert threads == [threading.current_thread().name]
    e.close()


def test_lazy_call_waits_for_its_consumer(calls: dict[str, int]) -> None:
    """A lazy call whose consumer waits for a missing input has not run at suspension."""
    reg = Registry()

    @reg.module
    def Expensive(x: int) -> int:
        calls["Expensive"] = calls.get("Expensive", 0) + 1
        return x * 10

    @reg.module
    def Eager(x: int) -> int:
        calls["Eager"] = calls.get("Eager", 0) + 1
        return x * 10

    engine = Engine(reg)
    src = "in a: Int\nin b: Int\nx = Expensive(a) with lazy\ny = Eager(a)\nz = x + b\nw = y + b\nout z\nout w\n"
    result = engine.run(src, {"a": 1})
    assert result.status == "suspended"
    assert calls == {"Eager": 1}
    done = engine.run(src, {"a": 1, "b": 2})
    assert done.outputs == {"z": 12, "w": 12}
    assert calls == {"Eager": 2, "Expensive": 1}
    engine.close()


def test_priority_orders_nodes_that_are_ready_together() -> None:
    """Calls ready at the same time start in priority order, then source order."""
    reg = Registry()
    order: list[str] = []

    @reg.module
    def Note(label: str) -> str:
        order.append(label)
        return label

    engine = Engine(reg)
    src = (
        'a = Note("low") with priority: low\n'
        'b = Note("normal")\n'
        'c = Note("critical") with priority: critical\n'
        'd = Note("high") with priority: 80\n'
        "out a\nout b\nout c\nout d\n"
    )
    engine.run(src)
    assert order == ["critical", "high", "normal", "low"]
    engine.close()


def test_node_states_report_skipped_branches(engine: Engine) -> None:
    """A call in an untaken branch is 'skipped'; the taken one 'completed', with a preview."""
    result = run(engine, "in f: Boolean\nx = if (f) Double(1) else Double(2)\nout x\n", f=False)
    states = {n.id: (n.state, n.preview) for n in result.nodes}
    assert states["x~1"] == ("skipped", None)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    run(engine, "in f: Boolean\nx = if (f) Double(1) else Double(2)\nout x\n", f=True)
    assert ("node.skipped", "x~2") in [(e.kind, e.node) for e in seen]
    assert states["x~2"] == ("completed", "4")
    assert states["x"] == ("completed", "4")
    assert all(n.duration_ms is not None for n in result.nodes if n.state == "completed" and n.kind != "input")


def test_blocking_modules_run_in_worker_threads() -> None:
    """blocking=True sync modules run in the engine's thread pool, not the caller's thread."""
    reg = Registry()
    threads: list[str] = []

    @reg.module(blocking=True)
    def Disk(x: int) -> int:
        threads.append(threading.current_thread().name)
        return x

    e = Engine(reg)
    assert e.run("in n: Int\nx = Disk(n)\nout x\n", {"n": 3}).outputs == {"x": 3}
    assert threads
    assert threads[0] != threading.current_thread().name
    e.close()
