"""The notebook's static pictures: DAG (DOT, SVG, outline), diagnostics, outputs, errors."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest
from constellation_jupyter import render

import constellation as cst
from tests.conftest import dedent, make_registry

SOURCE = dedent(
    """
    @doc("The text to shorten")
    @example("hello world")
    in text: String
    in approval: Boolean
    summary = Summarize(text)
    approved = summary when approval
    out approved
    """
)


@pytest.fixture
def engine() -> Iterator[cst.Engine]:
    reg = make_registry()

    @reg.module
    def Summarize(text: str) -> str:
        return text[:5]

    @reg.module
    def Explode(text: str) -> str:
        raise RuntimeError(f"cannot handle <{text}>")

    engine = cst.Engine(registry=reg)
    yield engine
    engine.close()


def test_dag_colours_nodes_by_state_and_labels_edges(engine: cst.Engine) -> None:
    pipeline = engine.compile(SOURCE)
    states = {
        "text": "completed",
        "approval": "waiting",
        "summary": "running",
        "approved": "failed",
    }
    source = render.dag(pipeline, states).source

    def line_of(label: str) -> str:
        """The attributes of the node whose label starts with ``label``."""
        found = re.search(rf'\tn\d+ \[label="?{re.escape(label)}[\n" ](.*?)\]\n', source, re.S)
        assert found is not None, label
        return found.group(1)

    assert 'fillcolor="#c8e6c9"' in line_of("text")  # completed
    assert 'fillcolor="#bbdefb"' in line_of("approval")  # waiting
    assert 'fillcolor="#fff59d"' in line_of("summary")  # running
    assert "shape=ellipse" in line_of("text")
    # The output is an octagon and takes the state of the node it reports.
    assert re.search(r'label=approved class="cst-node cst-failed"[^\]]*shape=doubleoctagon', source)
    assert 'fillcolor="#ffcdd2"' in line_of("approved")
    # The edge into the call names the parameter it feeds; the conditional edge is dashed.
    assert "[label=text]" in source
    assert "style=dashed" in source
    # The legend lists exactly the states shown.
    for words in ("completed", "waiting for input", "running", "failed"):
        assert f'label="{words}"' in source or f"label={words}" in source
    assert "not needed" not in source


def test_dag_without_states_has_no_legend_and_tooltips_carry_details(engine: cst.Engine) -> None:
    pipeline = engine.compile(SOURCE)
    assert "cluster_legend" not in render.dag(pipeline).source
    report = cst.NodeReport("summary", "summary", "call", "failed", 12.5, None, "boom <b>")
    source = render.dag(pipeline, {"summary": "failed"}, details={"summary": report}).source
    assert "took 12.5 ms" in source
    assert "error: boom <b>" in source
    done = cst.NodeReport("text", "text", "input", "completed", None, "hello")
    assert (
        "value: hello" in render.dag(pipeline, {"text": "completed"}, details={"text": done}).source
    )


@pytest.mark.skipif(not render.dot_available(), reason="needs the Graphviz dot program")
def test_svg_is_produced_when_dot_exists(engine: cst.Engine) -> None:
    pipeline = engine.compile(SOURCE)
    text = render.svg(render.dag(pipeline, {"text": "completed"}))
    assert text is not None
    assert text.startswith("<svg")
    assert "Summarize" in text
    assert "completed" in text
    html = render.dag_html(pipeline, {"text": "completed"})
    assert "<svg" in html
    assert "<?xml" not in html


def test_without_dot_the_outline_is_shown_with_one_warning(
    engine: cst.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = engine.compile(SOURCE)
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    monkeypatch.setitem(render._warned, "dot", False)
    render.dot_available.cache_clear()
    try:
        assert not render.dot_available()
        with pytest.warns(render.GraphvizMissingWarning, match="apt-get install graphviz"):
            first = render.dag_html(pipeline, {"text": "completed"})
        assert first.startswith("<pre")
        assert "text: String  [completed]" in first
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            second = render.dag_html(pipeline)  # no second warning
        assert "summary = Summarize(…): String  &lt;- text as text" in second
    finally:
        monkeypatch.undo()
        render.dot_available.cache_clear()


def test_outline_lists_inputs_steps_and_outputs_with_states(engine: cst.Engine) -> None:
    pipeline = engine.compile(SOURCE)
    text = render.outline(pipeline, {"text": "completed", "summary": "skipped"})
    assert text.splitlines() == [
        "inputs:",
        "  text: String  [completed]",
        "  approval: Boolean",
        "steps:",
        "  summary = Summarize(…): String  <- text as text  [skipped (branch not taken)]",
        "  approved: Optional<String>  <- approval, summary",
        "outputs:",
        "  approved: Optional<String>  <- approved",
    ]


def test_diagnostics_panel_shows_code_caret_line_and_hint(engine: cst.Engine) -> None:
    with pytest.raises(cst.CompileError) as info:
        engine.compile('in n: Int\nx = n + m\ns = "<b>" + q\nout x\nout s')
    html, text = render.diagnostics_panel(info.value)
    assert text.startswith("2 errors in the pipeline")
    assert "error E001 at line 2, column 9: undefined variable 'm'" in text
    assert " 2 | x = n + m\n   |         ^" in text
    assert "hint: did you mean 'n'?" in text
    assert "E001" in html
    assert "x = n + m" in html
    assert "&lt;b&gt;" in html
    assert "<b>" not in html.replace("<b style", "")
    titled, _ = render.diagnostics_panel(info.value, title="Cell <1> failed")
    assert "Cell &lt;1&gt; failed" in titled


def test_outputs_table_escapes_and_folds_long_values(engine: cst.Engine) -> None:
    source = "in a: String\nin b: String\nin c: Int\nout a\nout b\nout c\n"
    long = "x" * 300
    execution = engine.run(source, {"a": "<script>alert(1)</script>", "b": long})
    html = render.outputs_table(execution)
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    assert "<details>" in html
    assert "(300 characters)" in html
    assert "<i style" in html  # c is pending
    assert "pending" in html


def test_errors_list_shows_failed_node_with_its_source_line(engine: cst.Engine) -> None:
    execution = engine.run("in t: String\nboom = Explode(t)\nout boom\n", {"t": "x"})
    assert execution.status == "failed"
    html = render.errors_list(
        execution, engine.compile("in t: String\nboom = Explode(t)\nout boom\n")
    )
    assert "boom" in html
    assert "Explode" in html
    assert "cannot handle &lt;x&gt;" in html
    assert " 2 | boom = Explode(t)" in html
    assert (
        render.errors_list(
            engine.run("in t: String\nout t", {"t": "x"}), engine.compile("in t: String\nout t")
        )
        == ""
    )


def test_signature_lists_inputs_with_doc_and_examples_and_outputs(engine: cst.Engine) -> None:
    html = render.signature(engine.compile(SOURCE))
    assert (
        "<code>text</code></td><td>String</td><td>The text to shorten; e.g. <code>hello world</code>"
        in html
    )
    assert "<td>out</td><td><code>approved</code></td><td>Optional&lt;String&gt;</td>" in html
