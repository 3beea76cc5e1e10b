"""The tutorial notebooks run top to bottom in a real kernel and match their saved outputs.

nbval runs in a child pytest (the notebooks are not under ``testpaths``), with the sanitize
file that masks what varies between runs (hashes, ids, ports, timings). Regenerate a notebook
after changing it with ``.venv/bin/jupyter execute --inplace notebooks/NAME.ipynb``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def test_the_four_tutorials_exist() -> None:
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]


def test_notebooks_match_their_outputs() -> None:
    """Every cell runs and its outputs equal the committed ones (after sanitizing).

    One child pytest for all four: its start-up costs more than a notebook's run."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(ROOT / "notebooks" / "sanitize.cfg"),
        "--nbval-cell-timeout",
        "120",
        "-p",
        "no:cacheprovider",
        "-q",
        *(str(p) for p in NOTEBOOKS),
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
