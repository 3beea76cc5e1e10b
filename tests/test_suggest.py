"""Suggestions for misspelled names (language.md §10.4)."""

from __future__ import annotations

import pytest

from constellation.suggest import closest, did_you_mean


@pytest.mark.parametrize(
    ("name", "candidates", "expected"),
    [
        ("lowrcase", ["lowercase", "uppercase"], "lowercase"),
        ("totl", ["total", "tool"], "tool"),
        ("x", ["y", "xx"], "xx"),
        ("Total", ["total", "tota"], "total"),
        ("abc", ["xyz"], None),
        ("retires", ["retry", "timeout"], None),
        ("rety", ["retry", "timeout"], "retry"),
        ("same", ["same"], None),
    ],
)
def test_closest(name: str, candidates: list[str], expected: str | None) -> None:
    """Nearest by edit distance in lower case, within len // 3; exact case-insensitive first."""
    assert closest(name, candidates) == expected


def test_ties_go_alphabetically() -> None:
    """Equal distances are decided by alphabetical order."""
    assert closest("cat", ["bat", "hat", "rat"]) == "bat"


def test_did_you_mean_phrase() -> None:
    assert did_you_mean("uppercas", ["uppercase"]) == "did you mean 'uppercase'?"
    assert did_you_mean("zzz", ["uppercase"]) is None
