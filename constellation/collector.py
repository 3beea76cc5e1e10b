"""Pausing Python's cyclic garbage collector while a program is compiled.

A compile allocates a great many objects and keeps most of them: tokens, syntax trees, types,
the IR. Each allocation burst triggers a collection, and the collections of the oldest
generation scan every object still alive, so their cost grows with the program: the compile
of a 10,000-declaration chain spent a quarter of its time in them (``benchmarks``, W8). The
compiler makes no garbage cycles worth collecting on the way (reference counting frees its
garbage), so the collector is paused for the compile and runs again afterwards.

Users are counted, so concurrent compiles do not re-enable it under each other's feet, and a
collector the application disabled itself stays disabled.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_users = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector while the block runs (nested and threads alike)."""
    global _users, _was_enabled
    with _lock:
        if _users == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _was_enabled:
                gc.enable()
