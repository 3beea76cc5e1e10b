"""The public surface of `constellation`: what it exports, and what it must not import."""

from __future__ import annotations

import doctest
import subprocess
import sys

import constellation


def test_exported_members() -> None:
    """`__all__` is exactly the documented surface; every name in it exists."""
    assert sorted(constellation.__all__) == [
        "CompileError",
        "ConstellationError",
        "Diagnostic",
        "Engine",
        "Event",
        "Execution",
        "ExecutionExpired",
        "InputError",
        "Limits",
        "Module",
        "ModuleCall",
        "ModuleDefinitionError",
        "NodeError",
        "NodeReport",
        "NotFound",
        "Pipeline",
        "Registry",
        "ResumeConflict",
        "Source",
        "Span",
        "StoreError",
        "default_registry",
        "module",
    ]
    for name in constellation.__all__:
        assert hasattr(constellation, name), name


def test_exceptions_subclass_the_matching_builtins() -> None:
    """InputError is a ValueError, NotFound a LookupError, all are ConstellationErrors."""
    assert issubclass(constellation.InputError, ValueError)
    assert issubclass(constellation.NotFound, LookupError)
    assert issubclass(constellation.ModuleDefinitionError, TypeError)
    for name in ("CompileError", "ResumeConflict", "ExecutionExpired", "StoreError"):
        assert issubclass(getattr(constellation, name), constellation.ConstellationError)


def test_the_package_docstring_tour_runs() -> None:
    """The tour in `constellation.__doc__` is a doctest that passes."""
    result = doctest.testmod(constellation, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8
    assert result.failed == 0


def test_import_does_not_pull_in_front_end_libraries() -> None:
    """`import constellation` imports no tornado, IPython, ipywidgets or graphviz."""
    code = (
        "import sys, constellation\n"
        "bad = [m for m in ('tornado', 'IPython', 'ipywidgets', 'graphviz') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
