""""Did you mean …?" hints (language.md §10.4)."""

from __future__ import annotations

from collections.abc import Iterable


def _distance(a: str, b: str) -> int:
    """Levenshtein edit distance (insert, delete, substitute)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``name``, compared in lower case, within ``max(1, len // 3)``.

    Ties go to an exact case-insensitive match, then to alphabetical order.
    """
    lowered = name.lower()
    limit = max(1, len(name) // 3)
    best: tuple[int, bool, str] | None = None
    for candidate in set(candidates):
        if candidate == name:
            continue
        low = candidate.lower()
        if abs(len(low) - len(lowered)) > limit:
            continue
        d = _distance(lowered, low)
        if d > limit:
            continue
        key = (d, low != lowered, candidate)
        if best is None or key < best:
            best = key
    return None if best is None else best[2]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """``did you mean 'x'?`` for the closest candidate, or None."""
    found = closest(name, candidates)
    return None if found is None else f"did you mean '{found}'?"
