"""W5 and W8 only (compile cost and growth): ``python -m benchmarks.compile``.

Kept for the commands in docs/architecture.md; the harness is ``python -m benchmarks``, and
this runs its W5 and W8 (``--quick`` for a smoke run), writing nothing but the table.
"""

from __future__ import annotations

import os
import sys

from benchmarks.__main__ import main

if __name__ == "__main__":
    quick = ["--quick"] if "--quick" in sys.argv[1:] else []
    sys.exit(main([*quick, "--only", "W5", "--only", "W8", "--json", os.devnull]))
