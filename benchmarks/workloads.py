"""W1–W4 and W8: the cold path (compile once, execute many times) against floor and peers.

Each workload is the same computation written for the engine, as direct calls (the floor)
and for every peer of :mod:`benchmarks.peers`; all are built once and then timed by
:func:`benchmarks.harness.interleaved`, run by run in turn.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks import peers
from benchmarks.harness import NOT_INSTALLED, Figure, Ref, Stats, Target, interleaved, sample
from constellation import Engine, Pipeline, Registry
from constellation.frontend import compile_source
from constellation.source import Source

N = 100
SLEEP = 0.05


@dataclass(frozen=True, slots=True)
class Budget:
    """How many timed runs each kind of workload gets (``--quick`` lowers them)."""

    quick: bool
    runs: int  # W1–W3 and W8 executions
    io_runs: int  # W4 (each run sleeps 50 ms)
    slow_runs: int  # peers slower than a millisecond a run (LangGraph, Dask delayed)
    big_compiles: int  # compiles of 1,000 and more nodes
    scale: tuple[int, int]  # W8 sizes

    @staticmethod
    def of(quick: bool) -> Budget:
        if quick:
            return Budget(True, 40, 5, 10, 1, (1_000, 4_000))
        return Budget(False, 300, 200, 200, 7, (1_000, 10_000))


def inc(x: int) -> int:
    return x + 1


def trim(text: str) -> str:
    return text.strip()


def upper(text: str) -> str:
    return text.upper()


def join(text: str, suffix: str) -> str:
    return text + suffix


async def nap(i: int) -> int:
    await asyncio.sleep(SLEEP)
    return i


def registry() -> Registry:
    """The modules of every workload: plain functions, and one coroutine (W4)."""
    reg = Registry()
    reg.module(name="Inc")(inc)
    reg.module(name="Trim")(trim)
    reg.module(name="Uppercase")(upper)
    reg.module(name="Join")(join)
    reg.module(name="Nap")(nap)
    return reg


HELLO = "in text: String\ntrimmed = Trim(text)\nshout = Uppercase(trimmed)\nout shout\n"


def chain_source(n: int) -> str:
    """W1: n calls of Inc, each on the previous one."""
    return (
        "in x0: Int\n"
        + "".join(f"x{i} = Inc(x{i - 1})\n" for i in range(1, n + 1))
        + (f"out x{n}\n")
    )


def fanout_source(n: int) -> str:
    """W2: n independent calls of Inc on one input, then their sum."""
    ys = ", ".join(f"y{i}" for i in range(n))
    return (
        "in x: Int\n"
        + "".join(f"y{i} = Inc(x)\n" for i in range(n))
        + (f"s = list-sum([{ys}])\nout s\n")
    )


def io_source(n: int) -> str:
    """W4: n independent calls of the async Nap, then their sum."""
    ws = ", ".join(f"w{i}" for i in range(n))
    return "".join(f"w{i} = Nap({i})\n" for i in range(n)) + f"s = list-sum([{ws}])\nout s\n"


def _generated(code: str) -> dict[str, Callable[..., Any]]:
    """Functions defined by ``code`` (Hamilton reads dependencies from parameter names)."""
    namespace: dict[str, Any] = {"nap": nap, "asyncio": asyncio}
    exec(code, namespace)
    return {k: v for k, v in namespace.items() if callable(v) and k not in ("nap", "asyncio")}


def _refs(stats: Mapping[str, Stats | None]) -> dict[str, Ref]:
    return {k: NOT_INSTALLED if s is None else s.median for k, s in stats.items()}


def _time(
    engine: Callable[[], object],
    floor: Callable[[], object],
    fast: Mapping[str, Callable[[], object] | None],
    slow: Mapping[str, Callable[[], object] | None],
    budget: Budget,
) -> tuple[Stats, dict[str, Stats | None]]:
    """The engine and the floor interleaved; fast peers with them; slow ones separately."""
    present = {k: fn for k, fn in fast.items() if fn is not None}
    timed = interleaved({"engine": engine, "floor": floor, **present}, budget.runs)
    stats: dict[str, Stats | None] = {"floor": timed["floor"]}
    for k, fn in {**fast, **slow}.items():
        if fn is None:
            stats[k] = None
        elif k in timed:
            stats[k] = timed[k]
        else:
            stats[k] = sample(fn, budget.slow_runs)
    return timed["engine"], stats


def w1(engine: Engine, budget: Budget) -> list[Figure]:
    pipeline = engine.compile(chain_source(N))
    functions = _generated(
        "".join(
            f"def x{i}(x{i - 1}: int) -> int:\n    return x{i - 1} + 1\n" for i in range(1, N + 1)
        )
    )
    graph: dict[str, Any] = {"x0": 0} | {f"x{i}": (inc, f"x{i - 1}") for i in range(1, N + 1)}

    def delayed_chain(delayed: Callable[..., Any]) -> Any:
        x: Any = 0
        for _ in range(N):
            x = delayed(inc, pure=True)(x)
        return x

    def floor() -> int:
        x = 0
        for _ in range(N):
            x = inc(x)
        return x

    step: Callable[[Any], dict[str, Any]] = lambda s: {"x": s["x"] + 1}  # noqa: E731
    names = [f"n{i}" for i in range(N)]
    edges: list[tuple[str | list[str], str]] = [("START", names[0])]
    edges += [(a, b) for a, b in itertools.pairwise(names)] + [(names[-1], "END")]
    eng, stats = _time(
        lambda: engine.execute_pipeline(pipeline, {"x0": 0}),
        floor,
        {
            "hamilton": peers.hamilton(functions, [f"x{N}"], {"x0": 0}, "w1"),
            "dask": peers.dask_get(graph, f"x{N}"),
        },
        {
            "dask_delayed": peers.dask_delayed(delayed_chain),
            "langgraph": peers.langgraph(["x"], dict.fromkeys(names, step), edges, {"x": 0}),
        },
        budget,
    )
    refs = _refs(stats)
    return [
        Figure("W1", "chain-100 exec median µs", eng.median, Target("max", 0.10, "hamilton"), refs),
        Figure(
            "W1-floor",
            "chain-100 exec median µs",
            eng.median,
            Target("max", 20, "floor"),
            {"floor": refs["floor"]},
            note=f"engine p90 {eng.p90:.1f} µs",
        ),
    ]


def w2(engine: Engine, budget: Budget) -> list[Figure]:
    pipeline = engine.compile(fanout_source(N))
    ys = [f"y{i}" for i in range(N)]
    functions = _generated(
        "".join(f"def {y}(x: int) -> int:\n    return x + 1\n" for y in ys)
        + f"def total({', '.join(f'{y}: int' for y in ys)}) -> int:\n"
        + f"    return sum([{', '.join(ys)}])\n"
    )
    graph: dict[str, Any] = {"x": 1} | {y: (inc, "x") for y in ys} | {"total": (sum, ys)}

    def delayed_fan(delayed: Callable[..., Any]) -> Any:
        return delayed(sum, pure=True)([delayed(inc, pure=True)(1) for _ in ys])

    def floor() -> int:
        return sum([inc(1) for _ in range(N)])

    def branch(y: str) -> Callable[[Any], dict[str, Any]]:
        return lambda s: {y: s["x"] + 1}

    nodes = {f"n_{y}": branch(y) for y in ys}
    nodes["total"] = lambda s: {"total": sum(s[y] for y in ys)}
    edges: list[tuple[str | list[str], str]] = [("START", f"n_{y}") for y in ys]
    edges += [([f"n_{y}" for y in ys], "total"), ("total", "END")]
    eng, stats = _time(
        lambda: engine.execute_pipeline(pipeline, {"x": 1}),
        floor,
        {
            "hamilton": peers.hamilton(functions, ["total"], {"x": 1}, "w2"),
            "dask": peers.dask_get(graph, "total"),
        },
        {
            "dask_delayed": peers.dask_delayed(delayed_fan),
            "langgraph": peers.langgraph(["x", "total", *ys], nodes, edges, {"x": 1}),
        },
        budget,
    )
    return [
        Figure(
            "W2",
            "fanout-100 exec median µs",
            eng.median,
            Target("max", 0.10, "hamilton"),
            _refs(stats),
            note=f"engine p90 {eng.p90:.1f} µs",
        )
    ]


def w3(engine: Engine, budget: Budget) -> list[Figure]:
    pipeline = engine.compile(HELLO)
    text = "  hello, world  "

    def trimmed(text: str) -> str:
        return trim(text)

    def shout(trimmed: str) -> str:
        return upper(trimmed)

    graph = {"text": text, "trimmed": (trim, "text"), "shout": (upper, "trimmed")}
    eng, stats = _time(
        lambda: engine.execute_pipeline(pipeline, {"text": text}),
        lambda: upper(trim(text)),
        {
            "hamilton": peers.hamilton(
                {"trimmed": trimmed, "shout": shout}, ["shout"], {"text": text}, "w3"
            ),
            "dask": peers.dask_get(graph, "shout"),
        },
        {
            "dask_delayed": peers.dask_delayed(
                lambda delayed: delayed(upper, pure=True)(delayed(trim, pure=True)(text))
            ),
            "langgraph": peers.langgraph(
                ["text", "trimmed", "shout"],
                {
                    "trim": lambda s: {"trimmed": trim(s["text"])},
                    "upper": lambda s: {"shout": upper(s["trimmed"])},
                },
                [("START", "trim"), ("trim", "upper"), ("upper", "END")],
                {"text": text},
            ),
        },
        budget,
    )
    return [
        Figure(
            "W3",
            "hello exec median µs",
            eng.median,
            Target("max", 0.25, "hamilton"),
            _refs(stats),
            note=f"engine p90 {eng.p90:.1f} µs",
        )
    ]


def w4(engine: Engine, budget: Budget) -> list[Figure]:
    """20 async modules sleeping 50 ms, then a join; the engine's defaults, sync ``execute``."""
    n = 20
    pipeline = engine.compile(io_source(n))
    loop = asyncio.new_event_loop()
    try:
        ws = [f"w{i}" for i in range(n)]
        functions = _generated(
            "".join(
                f"async def {w}() -> int:\n    return await nap({i})\n" for i, w in enumerate(ws)
            )
            + f"def total({', '.join(f'{w}: int' for w in ws)}) -> int:\n"
            + f"    return sum([{', '.join(ws)}])\n"
        )

        async def gather() -> int:
            return sum(await asyncio.gather(*(nap(i) for i in range(n))))

        def branch(i: int) -> Callable[[Any], Any]:
            async def node(s: Any) -> dict[str, Any]:
                return {f"w{i}": await nap(i)}

            return node

        async def total(s: Any) -> dict[str, Any]:
            return {"total": sum(s[w] for w in ws)}

        nodes: dict[str, Callable[[Any], Any]] = {f"n_{w}": branch(i) for i, w in enumerate(ws)}
        nodes["total"] = total
        edges: list[tuple[str | list[str], str]] = [("START", f"n_{w}") for w in ws]
        edges += [([f"n_{w}" for w in ws], "total"), ("total", "END")]
        runners = {
            "engine": lambda: engine.execute_pipeline(pipeline),
            "gather": lambda: loop.run_until_complete(gather()),
            "hamilton_async": peers.hamilton_async(functions, ["total"], {}, "w4", loop),
            "langgraph": peers.langgraph(["total", *ws], nodes, edges, {}, loop),
        }
        present = {k: fn for k, fn in runners.items() if fn is not None}
        timed = interleaved(present, budget.io_runs)
    finally:
        loop.close()
    eng = timed.pop("engine")
    refs: dict[str, Ref] = {k: NOT_INSTALLED for k in runners if k not in present}
    refs |= {k: s.median for k, s in timed.items()}
    return [
        Figure(
            "W4",
            "io-fanout-20 total median µs",
            eng.median,
            Target("max", 1.1, "gather"),
            dict(sorted(refs.items(), key=lambda kv: list(runners).index(kv[0]))),
            note=f"engine p90 {eng.p90:.0f} µs; ideal {SLEEP * 1e6:.0f} µs",
        )
    ]


def cold_compile(engine: Engine, text: str) -> Callable[[], object]:
    """A full compile (parse, check, compile) that no cache answers."""
    reg, limits, backends = engine.registry, engine.limits, engine.cache_backends

    def run() -> object:
        return compile_source(Source(text), reg, limits, backends)

    return run


def w5(engine: Engine, budget: Budget) -> list[Figure]:
    """Hot-mode cost: compiling hello and 1,000 nodes, and a compile-cache hit."""
    hello = sample(cold_compile(engine, HELLO), budget.runs // 2)
    thousand = sample(cold_compile(engine, chain_source(1_000)), budget.big_compiles, warmup=1)
    engine.compile(HELLO)
    hit = sample(lambda: engine.compile(HELLO), budget.runs * 10)
    return [
        Figure("W5-hello", "compile hello median ms", hello.median / 1e3, Target("max", 2)),
        Figure("W5-1k", "compile chain-1,000 median ms", thousand.median / 1e3, Target("max", 300)),
        Figure("W5-hit", "compile-cache hit median µs", hit.median, Target("max", 50)),
    ]


def _repeated(
    engine: Engine, pipeline: Pipeline, inputs: Mapping[str, object], times: int
) -> Callable[[], object]:
    """``times`` executions of ``pipeline`` back to back."""
    count = range(times)
    return lambda: [engine.execute_pipeline(pipeline, inputs) for _ in count]


def w8(engine: Engine, budget: Budget) -> list[Figure]:
    """Growth: W1/W2 shapes at two sizes, compile and execute, as time per node.

    The executions are timed first, as a service runs them: each pipeline compiled once,
    then executed. The repeated cold compiles come after, so that their garbage is not
    what the executions' plans get built among.
    """
    small, large = budget.scale
    shapes = {"chain": (chain_source, {"x0": 0}), "fanout": (fanout_source, {"x": 1})}
    # A sample of the small size is large // small executions back to back, so that samples
    # of both sizes last as long and meet the same interruptions on a shared machine (a
    # lone 0.5 ms execution rarely sees the scheduler, a 6 ms one often does).
    repeats = {small: large // small, large: 1}
    execs: dict[str, dict[int, float]] = {}
    for shape, (source, inputs) in shapes.items():
        pipelines = {n: engine.compile(source(n)) for n in (small, large)}
        timed = interleaved(
            {str(n): _repeated(engine, pipelines[n], inputs, repeats[n]) for n in (small, large)},
            budget.runs * 2 // 3,
        )
        execs[shape] = {n: timed[str(n)].median / repeats[n] for n in (small, large)}
    figures = []
    for shape, (source, _) in shapes.items():
        compiles = {
            n: sample(cold_compile(engine, source(n)), budget.big_compiles, warmup=1).median
            for n in (small, large)
        }
        for kind, medians in (("exec", execs[shape]), ("compile", compiles)):
            per_node = {n: medians[n] / n for n in (small, large)}
            figures.append(
                Figure(
                    f"W8-{kind}-{shape}",
                    f"{kind} {shape} µs per node at {large:,}",
                    per_node[large],
                    Target("max", 1.5, f"at {small:,}"),
                    {f"at {small:,}": per_node[small]},
                )
            )
    return figures
