"""``python -m constellation_server …``: the same program as ``constellation serve …``."""

from __future__ import annotations

import sys

from constellation_server.serve import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m constellation_server"))
