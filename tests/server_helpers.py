"""A real service on a loopback port for the server tests, and a small HTTP client.

The application runs on its own IOLoop in a background thread; tests talk to it over TCP
from the test thread (or from several threads for races), like any client would.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web
from constellation_server import ServiceConfig, ServiceState, make_app, state_of

from constellation import Engine, Registry

HELLO = "in name: String\ngreeting = Hello(name)\nloud = Shout(greeting)\nout loud\n"

APPROVAL = """
in text: String
in approval: Boolean
summary = Summarize(text)
approved = Finish(summary) when approval
out summary
out approved
"""


class Modules:
    """Test modules with call counters and a gate that holds executions until opened."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.registry = Registry()
        reg = self.registry

        def count(name: str) -> None:
            with self.lock:
                self.calls[name] = self.calls.get(name, 0) + 1

        @reg.module
        def Hello(name: str) -> str:
            """Greets someone."""
            return "hello " + name

        @reg.module
        def Shout(text: str) -> str:
            return text.upper()

        @reg.module
        def Summarize(text: str) -> str:
            count("Summarize")
            return text[:5]

        @reg.module
        def Finish(text: str) -> str:
            count("Finish")
            return text + "!"

        @reg.module(cache="1h")
        def Lookup(key: str) -> str:
            count("Lookup")
            return key * 2

        @reg.module
        def Boom(text: str) -> str:
            raise RuntimeError("boom: " + text)

        gate = self.gate

        @reg.module
        async def Hold(text: str) -> str:
            await asyncio.get_running_loop().run_in_executor(None, gate.wait)
            return text

        @reg.module
        async def Forever(text: str) -> str:
            await asyncio.Event().wait()
            return text


def assert_error(response: Response, status: int, code: str) -> dict[str, object]:
    """The response is the one error shape with this status and code; returns the body."""
    assert response.status == status, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["requestId"] == response.headers["X-Request-ID"]
    return body


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll a real condition with a deadline (the server runs in another thread)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


@dataclass
class Server:
    """A running service: its port, application, state and engine."""

    port: int
    app: tornado.web.Application
    engine: Engine
    loop: asyncio.AbstractEventLoop
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> ServiceState:
        return state_of(self.app)

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Response:
        """One request on a fresh connection; ``body`` is sent as JSON, ``raw`` as is."""
        all_headers = dict(self.headers)
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=all_headers)
            reply = conn.getresponse()
            headers_ = tornado.httputil.HTTPHeaders()
            for name, value in reply.getheaders():
                headers_.add(name, value)
            return Response(reply.status, headers_, reply.read())
        finally:
            conn.close()

    def call(self, fn: object) -> object:
        """Run ``fn()`` on the server's loop thread and return its result."""
        future = asyncio.run_coroutine_threadsafe(_call(fn), self.loop)
        return future.result(timeout=30)


async def _call(fn: object) -> object:
    assert callable(fn)
    result = fn()
    if asyncio.iscoroutine(result):
        return await result
    return result


@contextmanager
def serve(
    registry: Registry,
    store: Path,
    config: ServiceConfig | None = None,
    *,
    execution_timeout: float | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> Iterator[Server]:
    """A service over a TinyDB store in ``store`` listening on a free loopback port."""
    engine = Engine(
        registry, store=store, execution_timeout=execution_timeout, wall_clock=wall_clock
    )
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    started = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = make_app(engine, config)
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        holder.update(loop=loop, app=app, server=server)
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(server.close_all_connections())
            loop.close()

    thread = threading.Thread(target=run, name="test-server", daemon=True)
    thread.start()
    started.wait(10)
    loop = holder["loop"]
    app = holder["app"]
    http_server = holder["server"]
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert isinstance(app, tornado.web.Application)
    assert isinstance(http_server, tornado.httpserver.HTTPServer)
    try:
        yield Server(port, app, engine, loop)
    finally:
        loop.call_soon_threadsafe(http_server.stop)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        state_of(app).close()
        engine.close()
