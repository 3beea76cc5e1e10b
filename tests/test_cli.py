"""The `constellation` command: check and dot, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODULES = '''
import constellation as cst

@cst.module
def Uppercase(text: str) -> str:
    return text.upper()
'''


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "constellation", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_ok_and_errors(tmp_path: Path) -> None:
    """check exits 0 for a good file and 1 with rendered diagnostics for a bad one."""
    (tmp_path / "mods.py").write_text(MODULES)
    (tmp_path / "good.cst").write_text("in t: String\nu = Uppercase(t)\nout u\n")
    (tmp_path / "bad.cst").write_text("in t: String\nu = Upercase(t)\nout u\n")
    result = run("check", "--modules", "mods.py", "good.cst", "bad.cst", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["good.cst: ok", "bad.cst: 1 error"]
    assert "bad.cst:2:5: error E002: undefined function 'Upercase'" in result.stderr
    assert "hint: did you mean 'Uppercase'?" in result.stderr
    assert " 2 | u = Upercase(t)\n   |     ^^^^^^^^" in result.stderr


def test_dot_prints_the_dag(tmp_path: Path) -> None:
    """dot prints a Graphviz digraph with the input, the call and the output."""
    (tmp_path / "mods.py").write_text(MODULES)
    (tmp_path / "p.cst").write_text("in t: String\nu = Uppercase(t)\nout u\n")
    result = run("dot", "--modules", "mods.py", "p.cst", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph")
    assert '"t" -> "u"' in result.stdout


def test_dot_of_a_broken_file_exits_2(tmp_path: Path) -> None:
    """Compile errors are usage errors for dot: exit 2, diagnostics on stderr."""
    (tmp_path / "p.cst").write_text("out x\n")
    result = run("dot", "p.cst", cwd=tmp_path)
    assert result.returncode == 2
    assert "error E001: undefined variable 'x'" in result.stderr


def test_missing_file_and_bad_modules(tmp_path: Path) -> None:
    """A missing file or an unimportable --modules is one clear line, exit 2."""
    result = run("check", "nope.cst", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("constellation: cannot read 'nope.cst'")
    result = run("check", "--modules", "no_such_mod_xyz", "nope.cst", cwd=tmp_path)
    assert result.returncode == 2
    assert "--modules: cannot import 'no_such_mod_xyz'" in result.stderr


def test_run_prints_the_result_and_exits_by_status(tmp_path: Path) -> None:
    """run prints the result JSON; exit 0 completed, 3 suspended, 1 failed, 2 bad input."""
    import json

    (tmp_path / "mods.py").write_text(MODULES)
    (tmp_path / "p.cst").write_text(
        "in t: String\nin n: Int\nu = Uppercase(t)\nq = 10 / n\nout u\nout q\n"
    )
    done = run("run", "--modules", "mods.py", "p.cst", "-i", "t=hi", "-i", "n=2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["status"], body["outputs"]) == ("completed", {"u": "HI", "q": 5})
    waiting = run("run", "--modules", "mods.py", "p.cst", "--inputs", '{"t": "x"}', cwd=tmp_path)
    assert waiting.returncode == 3
    assert json.loads(waiting.stdout)["missingInputs"] == {"n": "Int"}
    failed = run("run", "--modules", "mods.py", "p.cst", "-i", "t=x", "-i", "n=0", cwd=tmp_path)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errors"][0]["message"] == "division by zero"
    bad = run("run", "--modules", "mods.py", "p.cst", "-i", "n=two", cwd=tmp_path)
    assert bad.returncode == 2
    assert "Input 'n': expected Int, got String \"two\"" in bad.stderr


def test_suspend_in_one_process_resume_in_another(tmp_path: Path) -> None:
    """compile, execute (suspends), executions, resume: four processes, one store folder."""
    import json

    (tmp_path / "mods.py").write_text(MODULES)
    (tmp_path / "ap.cst").write_text(
        "in text: String\nin approval: Boolean\ns = Uppercase(text)\na = s when approval\nout s\nout a\n"
    )
    compiled = run("compile", "ap.cst", "--name", "ap", "--modules", "mods.py", cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    assert json.loads(compiled.stdout)["version"] == 1
    first = run("execute", "ap", "-i", "text=hi", "--modules", "mods.py", cwd=tmp_path)
    assert first.returncode == 3, first.stderr
    execution_id = json.loads(first.stdout)["executionId"]
    listed = run("executions", "--status", "suspended", "--modules", "mods.py", cwd=tmp_path)
    assert execution_id in listed.stdout
    resumed = run("resume", execution_id, "-i", "approval=true", "--modules", "mods.py", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    body = json.loads(resumed.stdout)
    assert (body["status"], body["outputs"], body["resumptionCount"]) == (
        "completed",
        {"s": "HI", "a": "HI"},
        1,
    )
    again = run("resume", execution_id, "-i", "approval=true", "--modules", "mods.py", cwd=tmp_path)
    assert again.returncode == 2
    assert "already completed" in again.stderr
