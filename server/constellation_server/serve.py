"""``constellation serve``: the HTTP service as a process (service.md §1, §3).

Flags and their ``CONSTELLATION_*`` environment twins become one :class:`ServiceConfig`
(a flag wins over its variable); ``--modules`` are imported, the TinyDB store is opened,
every ``--pipelines DIR/*.cst`` is compiled and published under its file stem (a broken file
is logged with its diagnostics and listed by ``/health/ready``, it does not stop the others),
then the application of :func:`constellation_server.make_app` listens until SIGTERM or
SIGINT. Shutdown stops accepting, lets in-flight requests finish (bounded by
``--shutdown-timeout``), closes the engine and its store, and exits 0. Suspended executions
live in the store, so a restart on the same folder resumes them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from constellation import CompileError, ConstellationError, Engine, Source, default_registry
from constellation.cli import UsageError, load_modules
from constellation.tinydb_store import TinyDBStore
from constellation_server.config import ROLES, Role, ServiceConfig, key_hash
from constellation_server.logs import SERVE_LOGGER, setup_logging

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
ENV_PREFIX = "CONSTELLATION_"
#: Seconds to wait for a store folder still held by a process that is shutting down.
STORE_WAIT_SECONDS = 10.0
LOG_LEVELS = ("debug", "info", "warning", "error")
#: Seconds, after the drain, for answers to reach their sockets and connections to close.
FLUSH_SECONDS = 1.0
#: Seconds closing the engine may take when requests were still running at shutdown.
CLOSE_SECONDS = 5.0

log = logging.getLogger(SERVE_LOGGER)

Kind = Literal["str", "int", "float", "bool", "list", "choice", "keys"]


@dataclass(frozen=True, slots=True)
class Option:
    """One setting of ``serve``: its flag, its environment twin, how to read it, its help."""

    dest: str
    kind: Kind
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    #: Shown in the help and the docs' table when the ServiceConfig default is not telling.
    default_text: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


#: Every setting, in the order of the documentation's table (docs/service.md).
OPTIONS: tuple[Option, ...] = (
    Option("host", "str", "interface to listen on", "HOST"),
    Option("port", "int", "TCP port (0: any free port, announced at start)", "PORT"),
    Option("store", "str", "folder of the TinyDB store", "DIR"),
    Option(
        "modules",
        "list",
        "module (dotted name) or .py file whose @module functions to register; repeatable "
        "(environment: comma-separated)",
        "MOD",
        default_text="none",
    ),
    Option(
        "pipelines",
        "str",
        "folder whose *.cst files are compiled and published under their stem at start",
        "DIR",
        default_text="none",
    ),
    Option(
        "api_keys",
        "keys",
        "API keys with roles, 'key:role,…' (roles: read, execute, admin); prefer the "
        "environment variable, which other users cannot see in the process list",
        "KEYS",
        default_text="none (no authentication; loopback only)",
    ),
    Option(
        "insecure",
        "bool",
        "allow a non-loopback --host without API keys",
        default_text="off",
    ),
    Option(
        "cors_origins",
        "list",
        "origins allowed by CORS, comma-separated",
        "ORIGINS",
        default_text="none",
    ),
    Option(
        "rate_limit",
        "float",
        "requests per second per API key (per client IP when anonymous)",
        "RPS",
        default_text="none (no limit)",
    ),
    Option("rate_burst", "int", "requests that may arrive at once before the rate applies", "N"),
    Option("max_body_bytes", "int", "largest request body, in bytes (larger: 413)", "BYTES"),
    Option("max_json_depth", "int", "deepest JSON nesting accepted in a body", "N"),
    Option("max_inputs", "int", "most inputs accepted in one request", "N"),
    Option("execution_timeout", "float", "wall-time limit of one execution, seconds", "SECONDS"),
    Option(
        "inline_threshold_ms",
        "float",
        "cold executions of plain functions that always took less run on the event loop "
        "(0: always on a worker thread)",
        "MS",
    ),
    Option("max_in_flight", "int", "executions running at once (more: 503)", "N"),
    Option(
        "body_timeout",
        "float",
        "seconds a client may take to send a request body (then the connection closes)",
        "SECONDS",
    ),
    Option("idle_timeout", "float", "seconds a connection may stay idle between requests", "SECONDS"),
    Option(
        "shutdown_timeout",
        "float",
        "seconds in-flight requests get to finish after SIGTERM/SIGINT",
        "SECONDS",
    ),
    Option("log_format", "choice", "log lines as text or JSON", choices=("text", "json")),
    Option(
        "log_level",
        "choice",
        "least severe log level written",
        choices=LOG_LEVELS,
        default_text="info",
    ),
)


def option_default(option: Option) -> str:
    """The default of ``option`` as the help and the docs show it."""
    if option.default_text is not None:
        return option.default_text
    value = getattr(ServiceConfig(), option.dest)
    return str(value)


@dataclass(frozen=True, slots=True)
class Settings:
    """What ``serve`` runs with: the service's config and the process-only settings."""

    config: ServiceConfig
    log_level: str = "info"


@dataclass(frozen=True, slots=True)
class PipelineLoadError:
    """A ``--pipelines`` file that could not be published, and why (diagnostics rendered)."""

    file: str
    name: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "name": self.name, "message": self.message}


def build_parser(prog: str = "constellation serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the Constellation engine over HTTP. Every flag has an environment "
        "variable twin (shown in brackets); a flag wins over its variable.",
    )
    for option in OPTIONS:
        text = f"{option.help} [{option.env}; default: {option_default(option)}]"
        if option.kind == "bool":
            parser.add_argument(
                option.flag, dest=option.dest, action="store_true", default=None, help=text
            )
        elif option.kind == "list" and option.dest == "modules":
            parser.add_argument(
                option.flag,
                dest=option.dest,
                action="append",
                default=None,
                metavar=option.metavar,
                help=text,
            )
        elif option.kind == "choice":
            parser.add_argument(
                option.flag, dest=option.dest, choices=option.choices, default=None, help=text
            )
        else:
            parser.add_argument(
                option.flag, dest=option.dest, default=None, metavar=option.metavar, help=text
            )
    return parser


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_api_keys(text: str, where: str) -> dict[str, Role]:
    """``"k1:admin,k2:execute"`` → ``{key_hash(k): role}``; a bad entry is a UsageError.

    Errors name the entry by position, never by its key, so the message is safe to log.
    """
    keys: dict[str, Role] = {}
    for index, entry in enumerate(text.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        key, sep, role = entry.rpartition(":")
        role = role.strip()
        if not sep or not key.strip():
            raise UsageError(
                f"{where}: entry {index} is not 'key:role' (roles: {', '.join(ROLES)})"
            )
        if role not in ROLES:
            raise UsageError(
                f"{where}: entry {index} has role '{role}'; use one of {', '.join(ROLES)}"
            )
        digest = key_hash(key.strip())
        if digest in keys:
            raise UsageError(f"{where}: entry {index} repeats an earlier key; give each key once")
        keys[digest] = role
    return keys


def _convert(option: Option, raw: object, where: str) -> object:
    """The value of ``option`` from a flag or variable; ``where`` names it in errors."""
    if option.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise UsageError(f"{where}: expected true or false, got '{raw}'")
    if option.kind == "list":
        if isinstance(raw, list):
            return tuple(str(item) for item in raw)
        return _split(str(raw))
    if option.kind == "keys":
        return parse_api_keys(str(raw), where)
    text = str(raw).strip()
    if option.kind == "choice":
        if text not in option.choices:
            raise UsageError(f"{where}: expected one of {', '.join(option.choices)}, got '{raw}'")
        return text
    if option.kind == "int":
        try:
            number: int | float = int(text)
        except ValueError:
            raise UsageError(f"{where}: expected a whole number, got '{raw}'") from None
    elif option.kind == "float":
        try:
            number = float(text)
        except ValueError:
            raise UsageError(f"{where}: expected a number, got '{raw}'") from None
    else:
        if not text:
            raise UsageError(f"{where}: expected a value, got an empty string")
        return text
    if option.dest == "port":
        if not 0 <= number <= 65535:
            raise UsageError(f"{where}: a port is 0–65535, got {raw}")
    elif not number > 0 or number != number or number == float("inf"):
        raise UsageError(f"{where}: expected a number greater than 0, got '{raw}'")
    return number


def parse_settings(
    argv: Sequence[str], environ: Mapping[str, str], prog: str = "constellation serve"
) -> Settings:
    """Flags first, then environment twins, then the ServiceConfig defaults.

    ``argparse`` exits 2 itself on an unknown flag; other mistakes raise UsageError.
    """
    args = build_parser(prog).parse_args(list(argv))
    values: dict[str, object] = {}
    for option in OPTIONS:
        raw = getattr(args, option.dest)
        if raw is not None:
            values[option.dest] = _convert(option, raw, option.flag)
        elif option.env in environ:
            values[option.dest] = _convert(option, environ[option.env], option.env)
    log_level = str(values.pop("log_level", "info"))
    known = {f.name for f in fields(ServiceConfig)}
    config = ServiceConfig(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]
    if not config.api_keys and not config.insecure and not is_loopback(config.host):
        raise UsageError(
            f"refusing to listen on '{config.host}' without API keys: anyone who can reach it "
            f"could run pipelines. Set {ENV_PREFIX}API_KEYS (e.g. 'secret:admin'), listen on "
            "127.0.0.1, or pass --insecure if this network is trusted"
        )
    return Settings(config, log_level)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------- start-up


def make_engine(config: ServiceConfig) -> Engine:
    """The engine over the TinyDB store of ``config.store`` and the default registry."""
    store = TinyDBStore(config.store, lock_timeout=STORE_WAIT_SECONDS)
    try:
        return Engine(
            registry=default_registry, store=store, execution_timeout=config.execution_timeout
        )
    except BaseException:
        store.close()
        raise


def load_pipelines(engine: Engine, folder: str) -> tuple[list[str], list[PipelineLoadError]]:
    """Compile every ``folder/*.cst`` and publish it under its stem; collect the failures."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"--pipelines: '{folder}' is not a folder; give a folder of .cst files")
    published: list[str] = []
    errors: list[PipelineLoadError] = []
    for path in sorted(root.glob("*.cst")):
        name = path.stem
        try:
            source = Source.decode(path.read_bytes(), str(path))
            engine.compile(source, name=name)
        except CompileError as err:
            errors.append(PipelineLoadError(str(path), name, str(err)))
        except UnicodeDecodeError as err:
            errors.append(
                PipelineLoadError(
                    str(path), name, f"not UTF-8 text ({err.reason} at byte {err.start})"
                )
            )
        except OSError as err:
            errors.append(PipelineLoadError(str(path), name, f"cannot read it: {err.strerror}"))
        except ConstellationError as err:  # an invalid name (the stem) or a store problem
            errors.append(PipelineLoadError(str(path), name, str(err)))
        else:
            published.append(name)
    return published, errors


async def _flush_responses(server: object, timeout: float) -> None:
    """Give answers already handed to their connections the time to reach the socket.

    An engine call returning is not the response written: the handler still serializes it
    on the loop, and a large body may sit in the stream's buffer. Closing connections before
    that would cut the very answers the drain waited for.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await asyncio.sleep(0)  # let handlers whose engine call just returned write
        connections = list(getattr(server, "_connections", ()))
        busy = [c for c in connections if getattr(getattr(c, "stream", None), "writing", bool)()]
        if not busy or asyncio.get_running_loop().time() >= deadline:
            return
        await asyncio.sleep(0.01)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How serving ended: the exit code, and whether every in-flight request finished."""

    code: int
    drained: bool


async def serve(
    engine: Engine, settings: Settings, load_errors: Sequence[PipelineLoadError]
) -> Outcome:
    """Listen until SIGTERM/SIGINT, then shut down gracefully."""
    # Imported here so that ``constellation serve --help`` and config errors need no Tornado.
    from tornado.netutil import bind_sockets

    from constellation_server.app import drain, http_server, make_app, state_of

    config = settings.config
    app = make_app(engine, config)
    state = state_of(app)
    for error in load_errors:
        state.record_pipeline_error(error.name, error.message)
    server = http_server(app, config)
    try:
        sockets = bind_sockets(config.port, config.host, family=socket.AF_UNSPEC)
    except OSError as err:
        log.error(
            "cannot listen on %s:%s: %s; choose another --port or stop what uses it",
            config.host,
            config.port,
            err.strerror,
        )
        state.close()
        return Outcome(EXIT_FAILED, drained=True)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    auth = (
        f"on ({len(config.api_keys)} key{'s' * (len(config.api_keys) != 1)})"
        if config.api_keys
        else "off (no API keys)"
    )
    log.info(
        "listening on http://%s:%s (auth %s; store %s)",
        host,
        port,
        auth,
        os.path.abspath(config.store),
        extra={
            "event": {
                "event": "listening",
                "url": f"http://{host}:{port}",
                "port": port,
                "auth": bool(config.api_keys),
                "store": os.path.abspath(config.store),
            }
        },
    )
    if not config.api_keys and is_loopback(config.host):
        log.info("no API keys: only this machine can connect (loopback)")
    elif not config.api_keys:
        log.warning("no API keys and --insecure: anyone who can reach %s can call it", host)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    drained = True
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await stop.wait()
        server.stop()
        log.info(
            "%s: no new connections; finishing in-flight requests (up to %ss)",
            received[0],
            config.shutdown_timeout,
        )
        drained = await drain(app, config.shutdown_timeout)
        if not drained:
            log.warning("requests still running after %ss; closing anyway", config.shutdown_timeout)
        await _flush_responses(server, FLUSH_SECONDS)
        # Idle keep-alive connections are closed now; busy ones had their time above.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), timeout=FLUSH_SECONDS)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        state.close()
    return Outcome(EXIT_OK, drained)


def main(argv: Sequence[str] | None = None, prog: str = "constellation serve") -> int:
    """Run the service; 0 after a graceful shutdown, 2 for usage errors, 1 otherwise.

    This is a process's entry point: after a shutdown whose drain timed out it ends the
    process itself (``os._exit``), since stuck worker threads would otherwise hold it.
    """
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ, prog)
    except UsageError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return EXIT_USAGE
    config = settings.config
    setup_logging(config.log_format, getattr(logging, settings.log_level.upper()))
    # `--modules my_modules` names a module next to the user, as `python -m` would find it;
    # the `constellation` script's own folder is what Python put on the path instead.
    if config.modules and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        for spec in config.modules:
            load_modules(spec)
    except UsageError as err:
        log.error("%s", err)
        return EXIT_USAGE
    except Exception as err:  # the user's module failed on import: say which and why
        log.error("--modules: importing failed: %s: %s", type(err).__name__, err)
        return EXIT_USAGE
    try:
        engine = make_engine(config)
    except ConstellationError as err:
        log.error("cannot open the store '%s': %s", config.store, err)
        return EXIT_FAILED
    try:
        errors: list[PipelineLoadError] = []
        if config.pipelines is not None:
            published, errors = load_pipelines(engine, config.pipelines)
            for error in errors:
                log.error(
                    "pipeline '%s' (%s) was not published:\n%s",
                    error.name,
                    error.file,
                    error.message,
                    extra={"event": {"event": "pipeline.failed", **error.to_json()}},
                )
            log.info(
                "published %d pipeline%s from %s: %s",
                len(published),
                "s" * (len(published) != 1),
                config.pipelines,
                ", ".join(published) or "none",
                extra={"event": {"event": "pipelines.published", "names": published}},
            )
        outcome = asyncio.run(serve(engine, settings, errors))
    except UsageError as err:
        log.error("%s", err)
        outcome = Outcome(EXIT_USAGE, drained=True)
    except BaseException:
        engine.close()
        raise
    close_engine(engine, wait=outcome.drained)
    log.info("stopped; store %s closed", os.path.abspath(config.store))
    if not outcome.drained:
        # A module still running holds a worker thread, and the interpreter joins those at
        # exit: the shutdown bound would not hold. The store is closed; leave now.
        logging.shutdown()
        os._exit(outcome.code)
    return outcome.code


def close_engine(engine: Engine, *, wait: bool) -> None:
    """Close the engine and its store; without ``wait``, give up after a few seconds (a
    module that never returns must not keep the process alive)."""
    if wait:
        engine.close()
        return
    closer = threading.Thread(target=engine.close, name="constellation-close", daemon=True)
    closer.start()
    closer.join(CLOSE_SECONDS)
