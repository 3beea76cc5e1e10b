"""The command lines of the magics: argparse parsers (IPython's ``magic_arguments``) and a
splitter that keeps Python expressions whole.

The magic line holds Python expressions (``-i text='two words'``, ``--inputs {"a": 1}``), so
it is split at spaces outside quotes and brackets, not like a shell line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from IPython.core import magic_arguments as _arguments
from IPython.core.error import UsageError

_F = TypeVar("_F", bound=Callable[..., object])

# IPython's decorators are untyped; these are their types as used here.
argument = cast(Callable[..., Callable[[_F], _F]], _arguments.argument)
magic_arguments = cast(Callable[..., Callable[[_F], _F]], _arguments.magic_arguments)

# --------------------------------------------------------------------------- argument parsers
# magic_arguments builds an argparse parser on each function below; parse_argstring uses it.
# They are not magics themselves: ``%constellation`` dispatches to them by subcommand.


@magic_arguments(name="%constellation")
@argument("name", nargs="?", help="name of the pipeline; the result is bound to it (else _cst)")
@argument(
    "-i",
    "--input",
    action="append",
    default=[],
    metavar="NAME=EXPR",
    help="an input, as a Python expression evaluated in the notebook (repeatable)",
)
@argument("--inputs", metavar="EXPR", help="a Python expression giving a dict of inputs")
@argument("--no-dag", action="store_true", help="do not draw the DAG")
@argument(
    "--publish",
    nargs="?",
    const="",
    metavar="URL",
    help="also publish the pipeline to the service (default: the configured server)",
)
@argument("--quiet", action="store_true", help="show nothing; only bind the result")
def cell_args() -> None:
    """Run the cell body as a hot execution of a constellation-lang pipeline."""


@magic_arguments(name="constellation publish")
@argument("name", help="a pipeline named in a %%%%constellation cell")
@argument("--server", metavar="URL", help="the service (default: the configured server)")
@argument("--token", help="API key (default: $CONSTELLATION_TOKEN)")
def publish_args() -> None:
    """Compile locally, then POST /compile to the service."""


@magic_arguments(name="constellation executions")
@argument("--status", choices=("suspended", "running", "completed", "failed"))
@argument("--pipeline", metavar="NAME", help="only executions of this pipeline")
@argument("--limit", type=int, default=50)
def executions_args() -> None:
    """The stored executions, newest first."""


@magic_arguments(name="constellation resume")
@argument("id", help="an execution id, a unique prefix of one, or a variable holding a result")
@argument("-i", "--input", action="append", default=[], metavar="NAME=EXPR")
@argument("--inputs", metavar="EXPR", help="a Python expression giving a dict of inputs")
def resume_args() -> None:
    """Resume a suspended execution with more inputs."""


@magic_arguments(name="constellation show")
@argument("name", help="a pipeline name or structural hash")
def show_args() -> None:
    """The DAG and signature of a pipeline, without running it."""


@magic_arguments(name="constellation config")
@argument("--store", metavar="memory|DIR", help="where executions are kept")
@argument("--server", metavar="URL", help="the service publish talks to")
def config_args() -> None:
    """Show or change the notebook's settings."""


@magic_arguments(name="constellation serve")
@argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
def serve_args() -> None:
    """Start the service inside this kernel, with the notebook's engine."""


class Help(Exception):
    """``-h`` or ``--help`` was given: the magic shows this help instead of running."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True, slots=True)
class HelpText:
    """The usage of a magic, shown as plain text."""

    text: str

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text)


def _parser(args: Callable[..., object]) -> argparse.ArgumentParser:
    return cast(argparse.ArgumentParser, cast(Any, args).parser)


def parse_argstring(args: Callable[..., object], line: str) -> argparse.Namespace:
    """Parse ``line`` with the parser magic_arguments built on ``args`` (UsageError if bad;
    :class:`Help` for ``-h``)."""
    words = split_line(line)
    parser = _parser(args)
    if "-h" in words or "--help" in words:
        raise Help(parser.format_help())
    return parser.parse_args(words)


def split_line(line: str) -> list[str]:
    """Words of a magic line, split at spaces outside Python quotes and brackets.

    Values are Python expressions, so ``-i text='two words'`` and
    ``--inputs {"a": 1, "b": [1, 2]}`` stay one word each, quotes kept for ``eval``.
    (IPython's own splitting would cut them at the spaces.)
    """
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    depth = 0
    escaped = False
    for ch in line:
        if quote is not None:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch in "([{":
            depth += 1
            current.append(ch)
        elif ch in ")]}":
            depth = max(depth - 1, 0)
            current.append(ch)
        elif ch.isspace() and depth == 0:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    if quote is not None or depth:
        raise UsageError(f"{line.strip()}: unbalanced quotes or brackets")
    if current:
        words.append("".join(current))
    return words


def usage() -> str:
    """The usage of the cell magic and of every subcommand, one after the other."""
    parsers = (
        cell_args,
        publish_args,
        executions_args,
        resume_args,
        show_args,
        config_args,
        serve_args,
    )
    return "\n".join(_parser(p).format_help() for p in parsers)
