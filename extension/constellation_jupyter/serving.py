"""``%constellation serve``: the Tornado service inside the kernel, with the notebook's engine.

Modules defined in cells are callable over HTTP at once, because the service and the notebook
share one engine and one registry. It listens on 127.0.0.1 only.

In a Jupyter kernel an asyncio loop is running in the kernel thread: the service is added to
that loop and answers whenever the kernel is idle or a cell awaits (``await`` an
``AsyncHTTPClient`` request from a cell; a blocking request from the kernel thread to it would
deadlock). Without a running loop (a terminal IPython, tests), the service gets a loop of its
own in a daemon thread, and blocking clients work.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from collections.abc import Coroutine
from typing import Any, TypeVar

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from constellation import Engine

try:
    from constellation_server import ServiceConfig, http_server, make_app, state_of
except ImportError as err:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "'%constellation serve' needs the 'server' extra: pip install 'constellation[server]'"
    ) from err

_T = TypeVar("_T")
HOST = "127.0.0.1"
#: Seconds ``stop`` waits for open connections to close in the service's own thread.
STOP_TIMEOUT = 10.0


class _LoopThread:
    """An asyncio loop running forever in a daemon thread, for kernels without a running loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="constellation-serve", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(STOP_TIMEOUT)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(STOP_TIMEOUT)
        self.loop.close()


class Service:
    """A running service: its URL, and ``stop``."""

    def __init__(
        self, server: HTTPServer, app: Application, port: int, thread: _LoopThread | None
    ) -> None:
        self._server = server
        self._app = app
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self._thread = thread
        self._closing: asyncio.Task[None] | None = None
        self.running = True

    @property
    def shares_loop(self) -> bool:
        """Whether the service runs on the kernel's loop (then blocking calls to it deadlock)."""
        return self._thread is None

    def serves(self, url: str) -> bool:
        """Whether ``url`` points at this service (loopback host, same port)."""
        parts = urllib.parse.urlsplit(url)
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        return self.running and loopback and parts.port == self.port

    def stop(self) -> None:
        """Stop listening and close the open connections."""
        if not self.running:
            return
        self.running = False
        if self._thread is not None:
            self._thread.call(_shutdown(self._server))
            self._thread.close()
            state_of(self._app).close()
            return
        self._server.stop()
        state_of(self._app).close()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # the loop is gone (kernel shutdown): its connections go with it
        # Keep-alive connections close on the kernel's loop once this cell returns.
        self._closing = loop.create_task(self._server.close_all_connections())

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Constellation service at {self.url} ({state})>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        if self.running:
            p.text(f"Constellation service running at {self.url} (loopback only)")
        else:
            p.text(f"Constellation service at {self.url} stopped")


async def _shutdown(server: HTTPServer) -> None:
    server.stop()
    await server.close_all_connections()


async def _listen_async(engine: Engine, sockets: list[Any]) -> tuple[HTTPServer, Application]:
    return _listen(engine, sockets)


def _listen(engine: Engine, sockets: list[Any]) -> tuple[HTTPServer, Application]:
    """The app on ``sockets``, on the loop running in this thread (tornado's current loop)."""
    port = sockets[0].getsockname()[1]
    config = ServiceConfig(host=HOST, port=port)
    app = make_app(engine, config)
    server = http_server(app, config)
    server.add_sockets(sockets)
    return server, app


def start(engine: Engine, *, port: int = 0) -> Service:
    """Serve ``engine`` on 127.0.0.1:``port`` (0: a free port) until ``Service.stop``."""
    sockets = bind_sockets(port, address=HOST)
    bound = sockets[0].getsockname()[1]
    thread: _LoopThread | None = None
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            thread = _LoopThread()
            server, app = thread.call(_listen_async(engine, sockets))
        else:
            # A running loop in this thread (a Jupyter kernel): the service shares it.
            server, app = _listen(engine, sockets)
    except BaseException:
        if thread is not None:
            thread.close()
        for sock in sockets:
            sock.close()
        raise
    return Service(server, app, bound, thread)
