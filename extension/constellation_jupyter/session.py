"""The notebook-wide session: one engine for the kernel, and what the magics remember.

The engine is created on first use, with the default registry (where ``@constellation.module``
registers cell functions) and a ``TinyDBStore`` in ``./.constellation/``, so suspended
executions outlive a kernel restart. ``%constellation config`` swaps the store or sets the
service URL used by ``publish``. The sources of named pipelines are kept so that
``%constellation publish NAME`` needs nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constellation import Engine, Pipeline, StoreError, default_registry
from constellation.store import MemoryStore, Store
from constellation.tinydb_store import TinyDBStore

if TYPE_CHECKING:
    from constellation_jupyter.serving import Service

#: Where the notebook keeps its executions unless ``%constellation config --store`` says otherwise.
DEFAULT_STORE = "./.constellation"
#: The service ``publish`` talks to when neither ``--server`` nor ``CONSTELLATION_SERVER`` is set.
DEFAULT_SERVER = "http://127.0.0.1:8080"
MEMORY = "memory"


@dataclass(frozen=True, slots=True)
class Settings:
    """What ``%constellation config`` shows: the store (``memory`` or a folder) and the server."""

    store: str
    server: str
    server_from: str  # "config", "serve", "CONSTELLATION_SERVER" or "default"

    def __str__(self) -> str:
        return f"store: {self.store}\nserver: {self.server} (from {self.server_from})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


class Session:
    """The kernel's engine (created lazily), its settings, and the named pipelines' sources."""

    def __init__(self, store: str = DEFAULT_STORE, server: str | None = None) -> None:
        self._store = store
        self._server = server
        self._engine: Engine | None = None
        #: Pipeline name → the cell body it was compiled from (for ``publish``).
        self.sources: dict[str, str] = {}
        #: Structural hash → the name a cell gave it (hot runs store no name with executions).
        self.names: dict[str, str] = {}
        #: The service started by ``%constellation serve``, if it is running.
        self.service: Service | None = None

    # ------------------------------------------------------------------ the engine

    @property
    def engine(self) -> Engine:
        """The notebook's engine, opened on first use."""
        if self._engine is None:
            self._engine = Engine(default_registry, store=self._open_store())
        return self._engine

    def _open_store(self) -> Store:
        if self._store == MEMORY:
            return MemoryStore()
        folder = Path(self._store)
        try:
            return TinyDBStore(folder)
        except StoreError as err:
            # The usual cause: another kernel started in the same folder holds the lock.
            raise StoreError(
                f"{err}. Another notebook kernel may be using {folder}: run "
                "'%constellation config --store memory' (or another folder) in this one"
            ) from None

    @property
    def started(self) -> bool:
        """Whether the engine has been opened (a store folder exists and is locked)."""
        return self._engine is not None

    def pipeline(self, ref: str) -> Pipeline:
        """A pipeline by name (the cells' own first, then the store) or structural hash."""
        source = self.sources.get(ref)
        if source is not None:
            return self.engine.compile(source)
        return self.engine.pipeline(ref)

    # ------------------------------------------------------------------ settings

    @property
    def settings(self) -> Settings:
        if self._server is not None:
            server, origin = self._server, "config"
        elif self.service is not None:
            server, origin = self.service.url, "serve"
        elif os.environ.get("CONSTELLATION_SERVER"):
            server, origin = os.environ["CONSTELLATION_SERVER"], "CONSTELLATION_SERVER"
        else:
            server, origin = DEFAULT_SERVER, "default"
        return Settings(store=self._store, server=server.rstrip("/"), server_from=origin)

    def configure(self, *, store: str | None = None, server: str | None = None) -> Settings:
        """Change the store (the engine is reopened on next use) and/or the server URL."""
        if store is not None and store != self._store:
            if self.service is not None:
                raise StoreError(
                    f"The service at {self.service.url} uses the current store: "
                    "run '%constellation stop' before changing it"
                )
            self._close_engine()
            self._store = store
        if server is not None:
            self._server = server
        return self.settings

    def close(self) -> None:
        """Stop the service and close the engine (its loop thread and store lock)."""
        if self.service is not None:
            self.service.stop()
            self.service = None
        self._close_engine()

    def _close_engine(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            engine.close()
