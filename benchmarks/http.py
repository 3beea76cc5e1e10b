"""W7: ``POST /execute`` of W3 on the service against a bare Tornado JSON handler.

Each server runs in its own process (``constellation_server.make_app`` on an engine with
W3 published as ``hello``; or a bare handler that parses the JSON body and returns a small
JSON), behind an ``HTTPServer`` with the settings of ``constellation serve``, on loopback.
The load comes from another process, so that neither shares a GIL with a server: asyncio
keep-alive connections sending a prepared request.

- closed loop: a fixed number of connections, each sending its next request when the last
  answer arrived; requests per second over a few seconds, the two servers in turn.
- open loop: requests sent at a fixed rate (half the engine's closed-loop maximum)
  whatever the answers do; latency counted from when each request was due, so that a slow
  answer delays the ones queued behind it in the figures too (no coordinated omission).

Where the machine allows it (Linux, two CPUs or more), both servers are pinned to one CPU
and the load to the others: otherwise the scheduler sometimes puts a server beside the load
generator and sometimes not, and that alone moved the ratio by a tenth between runs.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.connection
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from benchmarks.harness import NOT_INSTALLED, Figure, Target
from benchmarks.workloads import HELLO, Budget

if TYPE_CHECKING:
    from constellation_server.config import ServiceConfig

HOST = "127.0.0.1"
BODY = json.dumps({"ref": "hello", "inputs": {"text": "  hello, world  "}}).encode()
CONNECTIONS = 8


def request(port: int) -> bytes:
    return (
        f"POST /execute HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


# ---------------------------------------------------------------------- servers


def _cpus() -> tuple[set[int], set[int]] | None:
    """The CPU for the servers and the CPUs for the load, or None if they cannot be pinned."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else None


def _pin(cpus: set[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


def serve(
    kind: str, conn: multiprocessing.connection.Connection, cpus: set[int] | None = None
) -> None:
    """In a child process: serve ``kind`` ("engine" or "tornado") until told to stop."""
    from constellation_server.config import ServiceConfig

    _pin(cpus)
    asyncio.run(serve_until(kind, ServiceConfig(), conn.send, conn.fileno()))


async def serve_until(
    kind: str, config: ServiceConfig, announce: Callable[[int], object], stop_fd: int
) -> None:
    """Serve ``kind`` on a free loopback port (given to ``announce``) until ``stop_fd`` is
    readable (a message, or the end of a pipe)."""
    import tornado.web
    from constellation_server.app import http_server
    from tornado.netutil import bind_sockets

    engine = None
    app: tornado.web.Application
    if kind == "engine":
        from constellation_server import make_app

        from benchmarks.workloads import registry
        from constellation import Engine

        engine = Engine(registry())
        engine.compile(HELLO, name="hello")
        app = make_app(engine, config)
    else:
        app = tornado.web.Application([(r"/execute", _bare_handler())])
    # The HTTPServer of `constellation serve` (the service's own factory), for both.
    server = http_server(app, config)
    sockets = bind_sockets(0, HOST)
    server.add_sockets(sockets)
    announce(sockets[0].getsockname()[1])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_reader(stop_fd, stop.set)
    await stop.wait()
    server.stop()
    await server.close_all_connections()
    if engine is not None:
        engine.close()


def _bare_handler() -> type:
    import tornado.web

    class Bare(tornado.web.RequestHandler):
        """The floor: parse the JSON body, answer a small JSON."""

        def post(self) -> None:
            body = json.loads(self.request.body)
            text = body["inputs"]["text"]
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"status": "completed", "outputs": {"shout": text}}))

    return Bare


# ---------------------------------------------------------------------- load


async def _answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _closed(port: int, connections: int, seconds: float) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    data = request(port)
    count = 0
    failures = 0

    async def worker() -> None:
        nonlocal count, failures
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while loop.time() < deadline:
                writer.write(data)
                if await _answer(reader) != 200:
                    failures += 1
                count += 1
        finally:
            writer.close()
            await writer.wait_closed()

    start = loop.time()
    deadline = start + seconds
    await asyncio.gather(*(worker() for _ in range(connections)))
    return count / (loop.time() - start), failures


async def _open(port: int, rate: float, seconds: float) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    data = request(port)
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    writers = []
    for _ in range(64):
        reader, writer = await asyncio.open_connection(HOST, port)
        writers.append(writer)
        pool.put_nowait((reader, writer))
    latencies: list[float] = []
    failures = 0

    async def one(due: float) -> None:
        nonlocal failures
        reader, writer = await pool.get()
        writer.write(data)
        if await _answer(reader) != 200:
            failures += 1
        latencies.append(loop.time() - due)
        pool.put_nowait((reader, writer))

    start = loop.time() + 0.05
    tasks = []
    for k in range(int(rate * seconds)):
        due = start + k / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.gather(*tasks)
    for writer in writers:
        writer.close()
        await writer.wait_closed()
    return latencies, failures


def closed_loop(port: int, connections: int, seconds: float) -> tuple[float, int]:
    """In the load process: requests per second, and how many answers were not 200."""
    return asyncio.run(_closed(port, connections, seconds))


def open_loop(port: int, rate: float, seconds: float) -> tuple[list[float], int]:
    """In the load process: the latency of each request, in seconds from when it was due."""
    return asyncio.run(_open(port, rate, seconds))


# ---------------------------------------------------------------------- the workload


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def w7(budget: Budget) -> list[Figure]:
    """Closed-loop req/s (engine / bare Tornado, §3) with open-loop latency alongside."""
    try:
        import tornado  # noqa: F401
        from constellation_server import make_app  # noqa: F401
    except ImportError as err:
        return [
            Figure(
                "W7",
                "closed-loop req/s",
                0.0,
                Target("min", 0.7, "tornado"),
                {"tornado": NOT_INSTALLED},
                note=f"the service could not be imported: {err}",
            )
        ]
    # Short rounds in turn, the median of each server's: a burst of load from elsewhere on a
    # shared machine then spoils one round, not the figure.
    seconds = 1.0 if budget.quick else 1.5
    rounds = 1 if budget.quick else 9
    ctx = multiprocessing.get_context("spawn")
    pinned = _cpus()
    server_cpus, load_cpus = pinned or (None, None)
    servers: dict[str, tuple[Any, multiprocessing.connection.Connection, int]] = {}
    try:
        for kind in ("engine", "tornado"):
            parent, child = ctx.Pipe()
            process = ctx.Process(target=serve, args=(kind, child, server_cpus), daemon=True)
            process.start()
            deadline = time.monotonic() + 60
            while not parent.poll(0.1):
                if not process.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} server did not start (see its traceback)")
            servers[kind] = (process, parent, parent.recv())
        ports = {kind: port for kind, (_, _, port) in servers.items()}
        with ProcessPoolExecutor(
            1, mp_context=ctx, initializer=_pin, initargs=(load_cpus,)
        ) as load:
            for port in ports.values():  # warm-up: connections, JIT-less caches, the compile
                load.submit(closed_loop, port, CONNECTIONS, 0.3).result()
            rps: dict[str, list[float]] = {kind: [] for kind in ports}
            failures = 0
            for _ in range(rounds):
                for kind, port in ports.items():
                    rate, failed = load.submit(closed_loop, port, CONNECTIONS, seconds).result()
                    rps[kind].append(rate)
                    failures += failed
            closed = {kind: statistics.median(r) for kind, r in rps.items()}
            fixed = round(closed["engine"] / 2, -1) or 10.0
            latency: dict[str, tuple[float, float]] = {}
            for kind, port in ports.items():
                samples, failed = load.submit(open_loop, port, fixed, seconds).result()
                failures += failed
                latency[kind] = (_percentile(samples, 0.5) * 1e3, _percentile(samples, 0.99) * 1e3)
    finally:
        for process, parent, _ in servers.values():
            parent.send("stop")
            process.join(10)
            if process.is_alive():  # pragma: no cover - a server that does not stop
                process.kill()
                process.join()
            parent.close()
    if failures:
        raise RuntimeError(f"W7: {failures} answers were not 200 OK; the benchmark is void")
    (e50, e99), (t50, t99) = latency["engine"], latency["tornado"]
    return [
        Figure(
            "W7",
            "closed-loop req/s (POST /execute hello)",
            closed["engine"],
            Target("min", 0.7, "tornado"),
            {"tornado": closed["tornado"]},
            note=(
                f"{CONNECTIONS} connections, {rounds}×{seconds:g} s each"
                f"{'; servers and load on separate CPUs' if pinned else ''}; open loop at "
                f"{fixed:g} req/s: engine p50 {e50:.2f} ms, p99 {e99:.2f} ms; bare Tornado "
                f"p50 {t50:.2f} ms, p99 {t99:.2f} ms"
            ),
            details={
                "open_loop_rate": fixed,
                "engine_p50_ms": e50,
                "engine_p99_ms": e99,
                "tornado_p50_ms": t50,
                "tornado_p99_ms": t99,
            },
        )
    ]
