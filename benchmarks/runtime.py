"""W1–W4: the cold path (compile once, execute many times) against direct calls and Hamilton.

Run: ``.venv/bin/python -m benchmarks.runtime`` (``--quick`` for a smoke run). Every figure is
a median over repeated runs in this one process, reported with the reference points and
the ratio the targets of benchmarks.md §3 are stated in. Hamilton (``apache-hamilton``, from
the ``bench`` extra) runs its documented default: ``driver.Builder().with_modules(m).build()``
then ``Driver.execute``; when it is not installed it is reported as such.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from constellation import Engine, Registry

N = 100


def median_us(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(max(10, runs // 10)):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.9)] * 1e6


def inc(x: int) -> int:
    return x + 1


def hamilton_driver(functions: dict[str, Callable[..., Any]], name: str) -> Any:
    try:
        from hamilton import ad_hoc_utils, driver
    except ImportError:
        return None
    module: ModuleType = ad_hoc_utils.create_temporary_module(
        *functions.values(), module_name=f"constellation_bench_{name}"
    )
    return driver.Builder().with_modules(module).build()


def chain_functions() -> dict[str, Callable[..., Any]]:
    namespace: dict[str, Any] = {}
    code = "def x1(x0: int) -> int:\n    return x0 + 1\n" + "".join(
        f"def x{i}(x{i - 1}: int) -> int:\n    return x{i - 1} + 1\n" for i in range(2, N + 1)
    )
    exec(code, namespace)
    return {f"x{i}": namespace[f"x{i}"] for i in range(1, N + 1)}


def fanout_functions() -> dict[str, Callable[..., Any]]:
    namespace: dict[str, Any] = {}
    code = "".join(f"def y{i}(x: int) -> int:\n    return x + 1\n" for i in range(N))
    code += f"def total({', '.join(f'y{i}: int' for i in range(N))}) -> int:\n"
    code += f"    return {' + '.join(f'y{i}' for i in range(N))}\n"
    exec(code, namespace)
    return {name: fn for name, fn in namespace.items() if callable(fn)}


def hello_functions() -> dict[str, Callable[..., Any]]:
    def trimmed(text: str) -> str:
        return text.strip()

    def shout(trimmed: str) -> str:
        return trimmed.upper()

    return {"trimmed": trimmed, "shout": shout}


def registry() -> Registry:
    reg = Registry()
    reg.module(name="Inc")(inc)

    @reg.module
    def Trim(text: str) -> str:
        return text.strip()

    @reg.module
    def Uppercase(text: str) -> str:
        return text.upper()

    return reg


async def sleepy(i: int) -> int:
    await asyncio.sleep(0.05)
    return i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 30 if args.quick else 300
    reg = registry()
    reg.module(name="Nap")(sleepy)
    engine = Engine(reg)
    rows: list[tuple[str, float, dict[str, float | None], str, float | None]] = []

    chain = engine.compile(
        "in x0: Int\n" + "".join(f"x{i} = Inc(x{i - 1})\n" for i in range(1, N + 1)) + f"out x{N}\n"
    )
    fan = engine.compile(
        "in x: Int\n"
        + "".join(f"y{i} = Inc(x)\n" for i in range(N))
        + "s = list-sum([" + ", ".join(f"y{i}" for i in range(N)) + "])\nout s\n"
    )
    hello = engine.compile("in text: String\nt = Trim(text)\nu = Uppercase(t)\nout u\n")

    def floor_chain() -> None:
        x = 0
        for _ in range(N):
            x = inc(x)

    def floor_fan() -> None:
        sum(inc(1) for _ in range(N))

    def floor_hello() -> None:
        " hi ".strip().upper()

    cases = [
        ("W1", chain, {"x0": 0}, floor_chain, chain_functions(), [f"x{N}"], {"x0": 0}),
        ("W2", fan, {"x": 1}, floor_fan, fanout_functions(), ["total"], {"x": 1}),
        ("W3", hello, {"text": " hi "}, floor_hello, hello_functions(), ["shout"], {"text": " hi "}),
    ]
    targets = {"W1": 0.10, "W2": 0.10, "W3": 0.25}
    for wid, pipeline, inputs, floor, functions, final, hinputs in cases:
        eng, _ = median_us(lambda p=pipeline, i=inputs: engine.execute_pipeline(p, i), runs)
        flo, _ = median_us(floor, runs)
        dr = hamilton_driver(functions, wid)
        ham = None
        if dr is not None:
            ham, _ = median_us(lambda d=dr, f=final, h=hinputs: d.execute(f, inputs=h), runs // 3)
        ratio = None if ham is None else eng / ham
        rows.append((wid, eng, {"floor": flo, "hamilton": ham}, f"≤ {targets[wid]} × hamilton", ratio))
        if wid == "W1":
            rows.append(("W1 vs floor", eng, {"floor": flo}, "≤ 20 × floor", eng / flo))

    io = engine.compile(
        "".join(f"w{i} = Nap({i})\n" for i in range(20))
        + "s = list-sum([" + ", ".join(f"w{i}" for i in range(20)) + "])\nout s\n"
    )

    async def gather_floor() -> None:
        sum(await asyncio.gather(*(sleepy(i) for i in range(20))))

    io_runs = 5 if args.quick else 30
    eng4, _ = median_us(lambda: engine.execute_pipeline(io), io_runs)
    flo4, _ = median_us(lambda: asyncio.run(gather_floor()), io_runs)
    rows.append(("W4", eng4, {"gather": flo4}, "≤ 1.1 × gather", eng4 / flo4))
    engine.close()

    print(f"{'figure':<12} {'engine µs':>10}  references                          target              ratio")
    for wid, eng, refs, target, ratio in rows:
        shown = "  ".join(
            f"{k} {'not installed' if v is None else f'{v:.1f}'}" for k, v in refs.items()
        )
        r = "n/a" if ratio is None else f"{ratio:.3f}"
        print(f"{wid:<12} {eng:>10.1f}  {shown:<34}  {target:<18}  {r}")


if __name__ == "__main__":
    main()
