"""``python -m constellation`` is the ``constellation`` command."""

import sys

from constellation.cli import main

sys.exit(main())
