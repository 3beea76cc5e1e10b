"""Room on the Python stack for walking expression trees.

Expression trees are walked recursively; their depth is bounded (the parser's nesting limit,
``ir.MAX_EXPR_DEPTH`` for stored images), but the bound can exceed the interpreter's default
recursion limit. ``recursion_room`` raises the limit for the duration of a block and counts
its users, so concurrent threads do not restore it under each other's feet.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_room_lock = threading.Lock()
_room_users = 0
_room_saved = 0


@contextmanager
def recursion_room(frames: int) -> Iterator[None]:
    """Raise the interpreter's recursion limit to at least ``frames`` while the block runs.

    Expression trees are walked recursively (their depth is bounded: the parser's nesting
    limit, :data:`MAX_EXPR_DEPTH` on load). Users are counted, so concurrent threads do not
    restore the limit under each other's feet.
    """
    global _room_users, _room_saved
    with _room_lock:
        if _room_users == 0:
            _room_saved = sys.getrecursionlimit()
        _room_users += 1
        if sys.getrecursionlimit() < frames:
            sys.setrecursionlimit(frames)
    try:
        yield
    finally:
        with _room_lock:
            _room_users -= 1
            if _room_users == 0:
                sys.setrecursionlimit(_room_saved)
