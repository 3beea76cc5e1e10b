"""The ``%%constellation`` cell magic and the ``%constellation <subcommand>`` line magics.

The cell magic compiles its body, runs it hot with a live view and binds the result object to
``NAME`` (or ``_cst``). User mistakes (compile errors, bad inputs, unknown ids, an unreachable
service) are raised as ``UsageError``: IPython shows the message alone, without a traceback,
and the cell still fails, so "Run all" stops there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.display import display as _display

from constellation import CompileError, ConstellationError, Source
from constellation.types import show
from constellation_jupyter import arguments as cli
from constellation_jupyter import render
from constellation_jupyter.arguments import Help, HelpText, parse_argstring
from constellation_jupyter.listings import ExecutionList, PipelineView, Table, when
from constellation_jupyter.publish import Published, PublishError, publish
from constellation_jupyter.result import Result, run_live
from constellation_jupyter.session import MEMORY, Session

_T = TypeVar("_T")
# IPython's display is untyped; this is its type as used here.
display = cast(Callable[..., None], _display)

#: The name the result is bound to when the cell names no pipeline.
DEFAULT_RESULT = "_cst"
#: How many results the session remembers so that ``resume ID`` updates their views in place.
_REMEMBERED = 64
_SUBCOMMANDS: Final = (
    "publish",
    "executions",
    "resume",
    "show",
    "modules",
    "config",
    "serve",
    "stop",
)


# --------------------------------------------------------------------------- the magics


@magics_class
class ConstellationMagics(Magics):
    """``%%constellation`` runs a pipeline; ``%constellation <subcommand>`` manages them."""

    def __init__(self, shell: Any, session: Session | None = None) -> None:
        super().__init__(shell)
        self.session = session if session is not None else Session()
        #: Results of this kernel by execution id, so ``resume ID`` updates their views.
        self.results: dict[str, Result] = {}

    @no_var_expand
    @line_cell_magic
    def constellation(self, line: str, cell: str | None = None) -> object:
        """Run a pipeline (cell magic) or manage pipelines (line magic).

        ``%%constellation [NAME] [-i NAME=EXPR]... [--inputs EXPR] [--no-dag] [--publish [URL]]
        [--quiet]`` runs the cell body hot and binds the result to NAME (or ``_cst``).

        ``%constellation publish|executions|resume|show|modules|config|serve|stop ...``;
        ``%constellation SUBCOMMAND -h`` explains each. The line is not variable-expanded.
        """
        try:
            with _usage_errors():
                if cell is not None:
                    self._run_cell(line, cell)
                    return None
                return self._subcommand(line)
        except Help as asked:
            return HelpText(asked.text)

    # ------------------------------------------------------------------ the cell

    def _run_cell(self, line: str, cell: str) -> None:
        args = parse_argstring(cli.cell_args, line)
        name: str | None = args.name
        if name is not None and not name.isidentifier():
            raise UsageError(
                f"%%constellation {name}: the pipeline name is also a Python variable; "
                "use letters, digits and '_' (e.g. %%constellation review)"
            )
        if args.publish and not args.publish.startswith(("http://", "https://")):
            raise UsageError(
                f"%%constellation --publish {args.publish}: expected a URL "
                "(http://host:port); put the pipeline NAME before the flags"
            )
        inputs = self._inputs(args.inputs, args.input)
        engine = self.session.engine
        # One blank line stands for the magic line, so diagnostics and node lines are the
        # cell's own line numbers.
        source = Source("\n" + cell, name=f"cell {name}" if name else "cell")
        pipeline = _compiled(lambda: engine.compile(source, name=name), name)
        if name is not None:
            self.session.sources[name] = cell
            self.session.names[pipeline.structural_hash] = name
        variable = name or DEFAULT_RESULT
        result = run_live(
            engine,
            pipeline,
            inputs,
            show_dag=not args.no_dag,
            quiet=args.quiet,
            variable=variable,
        )
        self._remember(result)
        self._namespace[variable] = result
        if args.publish is not None:
            shown = self._publish(cell, name, args.publish or None, None)
            if not args.quiet:
                display(shown)

    # ------------------------------------------------------------------ line magics

    def _subcommand(self, line: str) -> object:
        command, _, rest = line.strip().partition(" ")
        handlers: Mapping[str, Callable[[str], object]] = {
            "publish": self._publish_line,
            "executions": self._executions,
            "resume": self._resume,
            "show": self._show,
            "modules": self._modules,
            "config": self._config,
            "serve": self._serve,
            "stop": self._stop,
        }
        handler = handlers.get(command)
        if handler is None:
            hint = f"unknown subcommand '{command}'" if command else "a subcommand is needed"
            raise UsageError(
                f"%constellation: {hint}; use one of {', '.join(_SUBCOMMANDS)} "
                "(or %%constellation as a cell magic to run a pipeline)"
            )
        return handler(rest)

    def _publish_line(self, rest: str) -> Published:
        args = parse_argstring(cli.publish_args, rest)
        source = self.session.sources.get(args.name)
        if source is None:
            raise UsageError(
                f"%constellation publish {args.name}: no cell of this kernel defines a pipeline "
                f"named '{args.name}'; run '%%constellation {args.name}' first"
            )
        return self._publish(source, args.name, args.server, args.token)

    def _publish(
        self, source: str, name: str | None, server: str | None, token: str | None
    ) -> Published:
        url = server or self.session.settings.server
        label = f"cell {name}" if name else "cell"
        try:
            return _compiled(
                lambda: publish(
                    source,
                    name=name,
                    server=url,
                    token=token,
                    engine=self.session.engine,
                    service=self.session.service,
                    label=label,
                    first_line=2,
                ),
                name,
            )
        except PublishError as err:
            raise UsageError(str(err)) from None

    def _executions(self, rest: str) -> object:
        args = parse_argstring(cli.executions_args, rest)
        records, _ = self.session.engine.executions(
            status=args.status, pipeline=args.pipeline, limit=args.limit
        )
        rows = []
        for r in records:
            missing = r.summary.get("missingInputs")
            waiting = ", ".join(missing) if isinstance(missing, dict) else ""
            rows.append(
                (
                    r.execution_id,
                    r.pipeline_name
                    or self.session.names.get(r.structural_hash)
                    or r.structural_hash[:12],
                    r.status,
                    waiting,
                    when(r.updated_at),
                )
            )
        table = Table(
            ("execution", "pipeline", "status", "waiting for", "updated"),
            tuple(rows),
            empty="No stored executions" + (f" with status {args.status}" if args.status else ""),
        )
        suspended = [r.execution_id for r in records if r.status == "suspended"]
        if not suspended:
            return table
        return ExecutionList(table, tuple(suspended), self._open)

    def _open(self, execution_id: str) -> Result:
        known = self.results.get(execution_id)
        if known is not None:
            return known
        result = Result.load(self.session.engine, execution_id)
        self._remember(result)
        return result

    def _resume(self, rest: str) -> Result:
        args = parse_argstring(cli.resume_args, rest)
        inputs = self._inputs(args.inputs, args.input)
        result = self._open(self._execution_id(args.id))
        return result.resume(**inputs)

    def _execution_id(self, given: str) -> str:
        """The full id of ``given``: an id, a prefix of exactly one stored execution, or the
        name of a notebook variable holding a Result."""
        bound = self._namespace.get(given)
        if isinstance(bound, Result):
            return bound.execution_id
        engine = self.session.engine
        if engine.store.get_execution(given) is not None:
            return given
        records, _ = engine.executions(limit=500)
        matches = [r.execution_id for r in records if r.execution_id.startswith(given)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(
                f"%constellation resume {given}: no stored execution has this id; "
                "'%constellation executions --status suspended' lists them"
            )
        raise UsageError(
            f"%constellation resume {given}: {len(matches)} executions start with it; "
            "give more characters of the id"
        )

    def _show(self, rest: str) -> PipelineView:
        args = parse_argstring(cli.show_args, rest)
        return PipelineView(args.name, self.session.pipeline(args.name))

    def _modules(self, rest: str) -> Table:
        if rest.strip():
            raise UsageError("%constellation modules takes no arguments")
        rows = tuple(
            (
                m.qualified_name,
                ", ".join(str(p) for p in m.signature.params),
                show(m.signature.result),
                "async" if m.is_async else ("blocking" if m.blocking else ""),
                m.description,
            )
            for m in sorted(self.session.engine.registry, key=lambda m: m.qualified_name)
        )
        return Table(
            ("module", "parameters", "returns", "runs", "description"),
            rows,
            empty="No modules registered: decorate a function with @constellation.module",
        )

    def _config(self, rest: str) -> object:
        args = parse_argstring(cli.config_args, rest)
        store = args.store
        if store is not None and store != MEMORY and not store.strip():
            raise UsageError("%constellation config --store: give 'memory' or a folder")
        return self.session.configure(store=store, server=args.server)

    def _serve(self, rest: str) -> object:
        args = parse_argstring(cli.serve_args, rest)
        from constellation_jupyter.serving import start

        if self.session.service is not None:
            raise UsageError(
                f"The service is already running at {self.session.service.url}; "
                "'%constellation stop' stops it"
            )
        self.session.service = start(self.session.engine, port=args.port)
        return self.session.service

    def _stop(self, rest: str) -> object:
        if rest.strip():
            raise UsageError("%constellation stop takes no arguments")
        service = self.session.service
        if service is None:
            raise UsageError("No service is running in this kernel ('%constellation serve')")
        service.stop()
        self.session.service = None
        return service

    # ------------------------------------------------------------------ helpers

    @property
    def _namespace(self) -> dict[str, Any]:
        assert self.shell is not None, "the magics are registered on a shell"
        return cast(dict[str, Any], self.shell.user_ns)

    def _inputs(self, expr: str | None, items: Sequence[str]) -> dict[str, object]:
        """``--inputs EXPR`` then each ``-i NAME=EXPR``, evaluated in the notebook."""
        values: dict[str, object] = {}
        if expr is not None:
            given = self._eval(expr, f"--inputs {expr}")
            if not isinstance(given, Mapping):
                raise UsageError(
                    f"--inputs {expr}: expected a dict of input names to values, "
                    f"got {type(given).__name__}"
                )
            values.update({str(k): v for k, v in given.items()})
        for item in items:
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or not key.isidentifier():
                raise UsageError(f"-i {item}: write -i NAME=EXPR, for example -i text=doc")
            values[key] = self._eval(value, f"-i {item}")
        return values

    def _eval(self, expr: str, where: str) -> object:
        try:
            return eval(expr, self._namespace)  # the user's own expression, in their namespace
        except Exception as err:
            raise UsageError(f"{where}: {type(err).__name__}: {err}") from None

    def _remember(self, result: Result) -> None:
        self.results[result.execution_id] = result
        while len(self.results) > _REMEMBERED:
            del self.results[next(iter(self.results))]


# --------------------------------------------------------------------------- functions


def _compiled(action: Callable[[], _T], name: str | None) -> _T:
    """``action()``, with a CompileError turned into a UsageError showing the diagnostic panel."""
    try:
        return action()
    except CompileError as err:
        title = None
        if name is not None:
            count = len(err.errors) + err.omitted
            title = f"{count} {'error' if count == 1 else 'errors'} in pipeline {name}"
        _, text = render.diagnostics_panel(err, title=title)
        raise UsageError(text) from None


@contextmanager
def _usage_errors() -> Iterator[None]:
    """The engine's errors about what the user asked (not found, bad input…) as UsageError."""
    try:
        yield
    except UsageError:
        raise
    except ConstellationError as err:
        raise UsageError(str(err)) from None


def _full_doc() -> str:
    """The magic's docstring followed by the usage of the cell magic and every subcommand."""
    return f"{ConstellationMagics.constellation.__doc__}\n{cli.usage()}"


ConstellationMagics.constellation.__doc__ = _full_doc()
