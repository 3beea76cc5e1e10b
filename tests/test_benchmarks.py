"""The benchmark harness: the shape of latest.json (benchmarks.md §4), "not installed" peers,
and the Markdown page. No timing is asserted here: timings belong to the benchmark itself."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks import instructions, peers, report
from benchmarks.__main__ import main
from benchmarks.harness import NOT_INSTALLED, Figure, Stats, Target, table


def check_figure_shape(figure: dict[str, object]) -> None:
    assert set(figure) >= {"id", "what", "engine", "refs", "target", "ratio", "met"}
    assert isinstance(figure["engine"], float)
    refs = figure["refs"]
    assert isinstance(refs, dict)
    assert all(isinstance(v, float) or v == NOT_INSTALLED for v in refs.values())
    target = figure["target"]
    assert isinstance(target, dict)
    assert len(set(target) & {"max_ratio", "min_ratio"}) == 1
    assert set(target) <= {"vs", "max_ratio", "min_ratio"}
    if "vs" in target:
        assert target["vs"] in refs
    assert figure["ratio"] is None or isinstance(figure["ratio"], float)
    assert isinstance(figure["met"], bool)


def test_a_quick_run_writes_every_figure_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, docs = tmp_path / "quick.json", tmp_path / "performance.md"
    argv = ["--quick", "--only", "W3", "--only", "W5", "--json", str(out), "--docs", str(docs)]
    assert main(argv) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert set(document) >= {"when", "machine", "quick", "figures"}
    assert document["quick"] is True
    ids = [f["id"] for f in document["figures"]]
    assert ids == ["W3", "W5-hello", "W5-1k", "W5-hit"]
    for figure in document["figures"]:
        check_figure_shape(figure)
    w3 = document["figures"][0]
    assert w3["target"] == {"vs": "hamilton", "max_ratio": 0.25}
    assert set(w3["refs"]) == {"floor", "hamilton", "dask", "dask_delayed", "langgraph"}
    assert document["figures"][1]["target"] == {"max_ratio": 2}
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split()[:3] == ["figure", "what", "engine"]
    assert "targets met" in printed
    page = docs.read_text(encoding="utf-8")
    assert "| W3 | hello exec median µs |" in page
    assert document["machine"] in page


def test_a_peer_that_is_not_installed_is_reported_not_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "langgraph.graph", None)
    monkeypatch.setitem(sys.modules, "hamilton", None)
    monkeypatch.setitem(sys.modules, "dask", None)
    assert peers.langgraph(["x"], {"n": lambda s: s}, [("START", "n")], {"x": 1}) is None
    assert peers.hamilton({}, ["x"], {}, "absent") is None
    assert peers.dask_get({"x": 1}, "x") is None
    figure = Figure(
        "W1",
        "exec median µs",
        50.0,
        Target("max", 0.1, "hamilton"),
        {"floor": 5.0, "hamilton": NOT_INSTALLED},
    )
    assert figure.ratio is None
    assert not figure.met
    assert figure.to_json()["refs"] == {"floor": 5.0, "hamilton": "not installed"}
    assert "hamilton not installed" in table([figure])
    assert "hamilton not installed" in report.table([figure.to_json()])


def test_ratios_and_bounds() -> None:
    below = Figure("W7", "req/s", 800.0, Target("min", 0.7, "tornado"), {"tornado": 1000.0})
    assert below.ratio == pytest.approx(0.8)
    assert below.met
    absolute = Figure("W5-hit", "µs", 60.0, Target("max", 50))
    assert absolute.ratio == 60.0
    assert not absolute.met
    assert absolute.to_json()["target"] == {"max_ratio": 50}
    assert Stats.of([3.0, 1.0, 2.0]) == Stats(2e6, 3e6, 3)


@pytest.mark.long
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_instruction_counts_are_repeatable_and_tell_the_servers_apart(tmp_path: Path) -> None:
    """Counted twice, the bare server agrees with itself within a per cent; the service,
    which does more per request, counts more."""
    bare = [instructions.per_request("tornado", tmp_path, 50, 150) for _ in range(2)]
    service = instructions.per_request("engine", tmp_path, 50, 150)
    assert bare[0] > 100_000
    assert abs(bare[0] - bare[1]) < 0.01 * bare[0]
    assert service > 1.05 * max(bare)
