"""The ``constellation`` command (engine.md §7): run, compile, execute, resume, executions,
check, dot, and serve (the HTTP service, in ``constellation_server``, imported only for it).

Commands that keep state use a TinyDB store folder (``--store``, default
``./constellation-data``), so a run suspended by one process resumes in another.

Exit codes: ``run`` 0 completed, 3 suspended, 1 failed; ``check`` 1 when a file has errors;
2 for usage, input and compile errors (diagnostics on stderr with caret excerpts).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from constellation.engine import Engine
from constellation.errors import CompileError, ConstellationError
from constellation.execution import Execution
from constellation.frontend import analyse
from constellation.modules import default_registry
from constellation.source import Source
from constellation.tinydb_store import TinyDBStore

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SUSPENDED = 3
STORE_WAIT_SECONDS = 10.0


class UsageError(Exception):
    """A mistake on the command line: shown as one line, exit code 2."""


def load_modules(spec: str) -> None:
    """Import a module by dotted name or a ``.py`` file by path, so its @module functions register."""
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise UsageError(f"--modules: no such file '{spec}'")
        name = f"_constellation_modules_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise UsageError(f"--modules: cannot load '{spec}' as Python")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        loader_spec.loader.exec_module(module)
        return
    try:
        importlib.import_module(spec)
    except ModuleNotFoundError as err:
        raise UsageError(
            f"--modules: cannot import '{spec}' ({err}); give an importable module or a .py path"
        ) from err


def read_source(file: str) -> Source:
    try:
        data = Path(file).read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read '{file}': {err.strerror}") from err
    try:
        return Source.decode(data, file)
    except UnicodeDecodeError as err:
        raise UsageError(f"'{file}' is not UTF-8 text ({err.reason} at byte {err.start})") from err


def cmd_check(args: argparse.Namespace, engine: Engine) -> int:
    failed = False
    for file in args.files:
        source = read_source(file)
        analysis = analyse(source, engine.registry, engine.limits, engine.cache_backends)
        for d in analysis.diagnostics:
            print(d.render(source), end="\n\n", file=sys.stderr)
        if analysis.omitted:
            print(f"{file}: {analysis.omitted} more diagnostics not shown", file=sys.stderr)
        errors = sum(1 for d in analysis.diagnostics if d.is_error) + analysis.omitted
        warnings = sum(1 for d in analysis.diagnostics if not d.is_error)
        if errors:
            failed = True
        status = "ok" if not errors else f"{errors} error{'s' * (errors != 1)}"
        if warnings:
            status += f", {warnings} warning{'s' * (warnings != 1)}"
        print(f"{file}: {status}")
    return EXIT_FAILED if failed else EXIT_OK


def parse_inputs(pairs: list[str], inputs_json: str | None) -> dict[str, object]:
    """``--inputs JSON|@file.json`` first, then each ``-i NAME=VALUE`` (JSON when it parses)."""
    values: dict[str, object] = {}
    if inputs_json is not None:
        text = inputs_json
        if text.startswith("@"):
            try:
                text = Path(text[1:]).read_text(encoding="utf-8")
            except OSError as err:
                raise UsageError(f"--inputs: cannot read '{text[1:]}': {err.strerror}") from err
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as err:
            raise UsageError(f"--inputs is not valid JSON: {err.msg} at line {err.lineno}") from err
        if not isinstance(loaded, dict):
            raise UsageError("--inputs must be a JSON object of input names to values")
        values.update(loaded)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"-i expects NAME=VALUE, got '{pair}'")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    return values


def print_result(result: Execution) -> int:
    print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    return {"completed": EXIT_OK, "suspended": EXIT_SUSPENDED, "failed": EXIT_FAILED}[result.status]


def cmd_run(args: argparse.Namespace, engine: Engine) -> int:
    source = read_source(args.file)
    return print_result(engine.run(source, parse_inputs(args.input, args.inputs)))


def cmd_compile(args: argparse.Namespace, engine: Engine) -> int:
    pipeline = engine.compile(read_source(args.file), name=args.name)
    body: dict[str, object] = {
        "structuralHash": pipeline.structural_hash,
        "syntacticHash": pipeline.syntactic_hash,
        "name": args.name,
    }
    if args.name:
        active = engine.store.get_name(args.name)
        body["version"] = None if active is None else active.version
    print(json.dumps(body, indent=2))
    return EXIT_OK


def cmd_execute(args: argparse.Namespace, engine: Engine) -> int:
    return print_result(engine.execute(args.ref, parse_inputs(args.input, args.inputs)))


def cmd_resume(args: argparse.Namespace, engine: Engine) -> int:
    return print_result(engine.resume(args.id, parse_inputs(args.input, args.inputs)))


def cmd_executions(args: argparse.Namespace, engine: Engine) -> int:
    engine.prune()
    records, _ = engine.executions(status=args.status, limit=args.limit)
    for r in records:
        name = r.pipeline_name or r.structural_hash[:12]
        missing = r.summary.get("missingInputs") or {}
        waiting = ", ".join(missing) if isinstance(missing, dict) else ""
        print(f"{r.execution_id}  {r.status:<10} {name:<24} {waiting}")
    return EXIT_OK


def cmd_dot(args: argparse.Namespace, engine: Engine) -> int:
    pipeline = engine.compile(read_source(args.file))
    sys.stdout.write(pipeline.to_dot())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="constellation", description="Typed pipelines: check, draw and run them."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def modules_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--modules",
            action="append",
            default=[],
            metavar="MOD",
            help="an importable module or a .py file whose @module functions to register",
        )

    def inputs_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-i",
            dest="input",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="an input; VALUE is parsed as JSON when it parses, else taken as a string",
        )
        p.add_argument("--inputs", metavar="JSON|@file.json", help="inputs as one JSON object")

    def store_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store",
            default="./constellation-data",
            metavar="DIR",
            help="the store folder (default ./constellation-data)",
        )

    run = sub.add_parser("run", help="compile and execute a pipeline; print the result JSON")
    run.add_argument("file", metavar="FILE.cst")
    inputs_options(run)
    modules_option(run)
    store_option(run)
    run.set_defaults(handler=cmd_run)

    compile_ = sub.add_parser("compile", help="compile and store a pipeline, optionally named")
    compile_.add_argument("file", metavar="FILE.cst")
    compile_.add_argument("--name", metavar="N")
    modules_option(compile_)
    store_option(compile_)
    compile_.set_defaults(handler=cmd_compile)

    execute = sub.add_parser("execute", help="execute a stored pipeline by name or hash")
    execute.add_argument("ref", metavar="REF")
    inputs_options(execute)
    modules_option(execute)
    store_option(execute)
    execute.set_defaults(handler=cmd_execute)

    resume = sub.add_parser("resume", help="resume a suspended execution with more inputs")
    resume.add_argument("id", metavar="ID")
    inputs_options(resume)
    modules_option(resume)
    store_option(resume)
    resume.set_defaults(handler=cmd_resume)

    executions = sub.add_parser("executions", help="list stored executions, newest first")
    executions.add_argument("--status", choices=["suspended", "completed", "failed"])
    executions.add_argument("--limit", type=int, default=50)
    modules_option(executions)
    store_option(executions)
    executions.set_defaults(handler=cmd_executions)

    check = sub.add_parser("check", help="report diagnostics; exit 1 on errors")
    check.add_argument("files", nargs="+", metavar="FILE.cst")
    modules_option(check)
    check.set_defaults(handler=cmd_check)

    dot = sub.add_parser("dot", help="print the pipeline's DAG in Graphviz DOT")
    dot.add_argument("file", metavar="FILE.cst")
    modules_option(dot)
    dot.set_defaults(handler=cmd_dot)

    # Parsed by constellation_server.serve itself (main hands it the rest of the line);
    # declared here so that `constellation --help` lists it.
    sub.add_parser(
        "serve",
        help="serve the engine over HTTP (needs the 'server' extra; see serve --help)",
        add_help=False,
    )
    return parser


def run_serve(argv: Sequence[str]) -> int:
    """``constellation serve …``: the service, imported only now (the engine never needs Tornado)."""
    try:
        from constellation_server.serve import main as serve_main
    except ImportError as err:
        print(
            f"constellation serve: the HTTP service is not installed ({err}); "
            "install it with: pip install 'constellation[server]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return serve_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    line = list(sys.argv[1:] if argv is None else argv)
    if line[:1] == ["serve"]:
        return run_serve(line[1:])
    args = build_parser().parse_args(line)
    try:
        for spec in args.modules:
            load_modules(spec)
        store = None
        if getattr(args, "store", None):
            # Another process may be finishing with the folder: wait a little for it.
            store = TinyDBStore(args.store, lock_timeout=STORE_WAIT_SECONDS)
        engine = Engine(default_registry, store=store)
        try:
            code: int = args.handler(args, engine)
        finally:
            engine.close()
        return code
    except CompileError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, ConstellationError) as err:
        print(f"constellation: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
