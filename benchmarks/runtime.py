"""W1–W4 only (the cold path against the floor and the peers): ``python -m benchmarks.runtime``.

Kept for the commands in docs/engine.md; the harness is ``python -m benchmarks``, and this
runs its W1–W4 (``--quick`` for a smoke run), writing nothing but the table.
"""

from __future__ import annotations

import os
import sys

from benchmarks.__main__ import main

if __name__ == "__main__":
    quick = ["--quick"] if "--quick" in sys.argv[1:] else []
    only = [arg for w in ("W1", "W2", "W3", "W4") for arg in ("--only", w)]
    sys.exit(main([*quick, *only, "--json", os.devnull]))
