"""The peers of benchmarks.md §1, each built once in its documented fastest configuration.

Every adapter imports its peer lazily and returns ``None`` when it is not installed (the
``bench`` extra installs them), so that the report can say "not installed". What each one
runs, said once here and in the report (``CONFIGURATIONS``):

- Hamilton: ``driver.Builder().with_modules(m).build()`` (default graph adapter, dict
  result, no adapters or caching) then ``Driver.execute``; for async,
  ``async_driver.Builder().with_modules(m).build()`` then ``AsyncDriver.execute`` on one
  persistent event loop.
- Dask: ``dask.get`` (the synchronous scheduler, no thread pool) on a dict graph built once;
  and ``delayed`` objects built once, then ``.compute(scheduler="sync")``.
- LangGraph: ``StateGraph(...).compile()`` once (no checkpointer), then ``invoke``
  (``ainvoke`` on one persistent loop for async nodes); the recursion limit raised to the
  number of steps, nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import ModuleType
from typing import Any, TypedDict

Runner = Callable[[], object]

CONFIGURATIONS: dict[str, str] = {
    "hamilton": "apache-hamilton: Builder().with_modules(m).build(), Driver.execute "
    "(default adapter, dict result, no caching)",
    "hamilton_async": "apache-hamilton: async_driver.Builder().with_modules(m).build(), "
    "AsyncDriver.execute on one persistent loop",
    "dask": "dask: dask.get (dask.local.get_sync, the synchronous scheduler) on a dict "
    "graph built once",
    "dask_delayed": "dask: delayed graph built once, .compute(scheduler='sync')",
    "langgraph": "langgraph: StateGraph.compile() once (no checkpointer), invoke / ainvoke",
}


def _module(functions: Mapping[str, Callable[..., Any]], name: str) -> ModuleType | None:
    try:
        from hamilton import ad_hoc_utils  # type: ignore[import-untyped]
    except ImportError:
        return None
    module: ModuleType = ad_hoc_utils.create_temporary_module(
        *functions.values(), module_name=f"constellation_bench_{name}"
    )
    return module


def hamilton(
    functions: Mapping[str, Callable[..., Any]],
    final: Sequence[str],
    inputs: Mapping[str, object],
    name: str,
) -> Runner | None:
    """``Driver.execute`` of the named functions (their parameters name their dependencies)."""
    module = _module(functions, name)
    if module is None:
        return None
    from hamilton import driver

    dr = driver.Builder().with_modules(module).build()
    final_vars, given = list(final), dict(inputs)
    return lambda: dr.execute(final_vars, inputs=given)


def hamilton_async(
    functions: Mapping[str, Callable[..., Any]],
    final: Sequence[str],
    inputs: Mapping[str, object],
    name: str,
    loop: asyncio.AbstractEventLoop,
) -> Runner | None:
    """``AsyncDriver.execute`` on ``loop`` (async functions run concurrently)."""
    module = _module(functions, name)
    if module is None:
        return None
    from hamilton import async_driver

    dr = loop.run_until_complete(async_driver.Builder().with_modules(module).build())
    final_vars, given = list(final), dict(inputs)
    return lambda: loop.run_until_complete(dr.execute(final_vars, inputs=given))


def dask_get(graph: dict[str, Any], key: str) -> Runner | None:
    """``dask.get`` (the synchronous scheduler) of ``key`` in a dict graph."""
    try:
        import dask.local
    except ImportError:
        return None
    return lambda: dask.local.get_sync(graph, key)


def dask_delayed(build: Callable[[Callable[..., Any]], Any]) -> Runner | None:
    """``build(delayed)`` once, then ``compute(scheduler="sync")`` of what it returns."""
    try:
        from dask.delayed import delayed
    except ImportError:
        return None
    value = build(delayed)
    return lambda: value.compute(scheduler="sync")


def langgraph(
    keys: Sequence[str],
    nodes: Mapping[str, Callable[[Any], dict[str, Any]]],
    edges: Sequence[tuple[str | list[str], str]],
    state: dict[str, Any],
    loop: asyncio.AbstractEventLoop | None = None,
) -> Runner | None:
    """A compiled ``StateGraph`` over a state of int/str ``keys``; edges name "START"/"END".

    With ``loop``, the nodes are coroutines and the graph runs by ``ainvoke`` on it.
    """
    try:
        from langgraph.graph import END, START, StateGraph
    except ImportError:
        return None
    schema = TypedDict("State", dict.fromkeys(keys, object))  # type: ignore[misc]
    graph: Any = StateGraph(schema)
    for name, fn in nodes.items():
        graph.add_node(name, fn)
    ends = {"START": START, "END": END}
    for source, target in edges:
        start = (
            [ends.get(s, s) for s in source]
            if isinstance(source, list)
            else ends.get(source, source)
        )
        graph.add_edge(start, ends.get(target, target))
    app = graph.compile()
    config = {"recursion_limit": len(nodes) + 10}
    if loop is None:
        return lambda: app.invoke(state, config)
    run: Callable[[], Coroutine[Any, Any, Any]] = lambda: app.ainvoke(state, config)  # noqa: E731
    return lambda: loop.run_until_complete(run())
