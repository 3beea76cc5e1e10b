"""Results in a notebook: forms that resume, views updated in place, loading, rich display."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from constellation_jupyter.live import Progress
from constellation_jupyter.result import Result, run_live
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

import constellation as cst
from tests.conftest import dedent, make_registry

APPROVAL = dedent(
    """
    @doc("Approve the summary?")
    in approval: Boolean
    in text: String
    summary = Summarize(text)
    approved = summary when approval
    out approved
    """
)
STAGES = "in a: Int\nin b: Int\nin c: List<Int>\nx = Fee(a)\ny = Fee(x + b)\nz = y + list-length(c)\nout z\n"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def build_registry(probes: list[object] | None = None) -> cst.Registry:
    reg = make_registry()

    @reg.module
    def Summarize(text: str) -> str:
        return text[:5]

    @reg.module
    def Fee(x: int) -> int:
        return x * 10

    @reg.module
    def Explode(text: str) -> str:
        raise RuntimeError(f"cannot handle {text}")

    @reg.module
    def Probe(text: str) -> str:
        # Runs while the live view is on screen: records what the view shows at that moment.
        if probes is not None:
            probes.append(text)
        return text

    return reg


@pytest.fixture
def engine() -> Iterator[cst.Engine]:
    engine = cst.Engine(registry=build_registry())
    yield engine
    engine.close()


def suspended(engine: cst.Engine, source: str, inputs: dict[str, object]) -> Result:
    pipeline = engine.compile(source)
    result = Result(engine, pipeline, engine.run(pipeline, inputs))
    assert result.status == "suspended"
    return result


def dag_widget(result: Result) -> Any:
    box = result.view()
    return box.children[1]


def test_the_form_resumes_the_same_execution_and_updates_the_view(engine: cst.Engine) -> None:
    result = suspended(engine, APPROVAL, {"text": "hello world"})
    execution_id = result.execution_id
    dag_before = dag_widget(result).value
    form = result.form
    assert form is not None
    assert list(form.fields) == ["approval"]
    assert "Approve the summary?" in form.fields["approval"].label.value
    assert result.states["approval"] == "waiting"
    form.fields["approval"].input.value = True
    form.button.click()
    assert form.status.value == ""
    assert result.status == "completed"
    assert result.execution_id == execution_id
    assert result.outputs == {"approved": "hello"}
    assert result.states["approval"] == "completed"
    assert result.states["approved"] == "completed"
    assert dag_widget(result).value != dag_before
    assert "#c8e6c9" in dag_widget(result).value or "[completed]" in dag_widget(result).value
    box = result.view()
    assert "<code>hello</code>" in box.children[3].value  # the outputs table, in place
    assert result.form is None  # completed: no form
    assert engine.execution(execution_id).status == "completed"


def test_bad_values_show_inline_and_leave_the_execution_unchanged(engine: cst.Engine) -> None:
    result = suspended(engine, STAGES, {"a": 1})
    version = engine.execution(result.execution_id).version
    form = result.form
    assert form is not None
    form.fields["b"].input.value = 2
    form.fields["c"].input.value = '[1, "x"]'
    assert "at [1]: expected an integer" in form.fields["c"].message.value
    form.button.click()
    assert "Nothing was sent: fix c first." in form.status.value
    assert result.status == "suspended"
    assert engine.execution(result.execution_id).version == version
    assert result.form is form  # the same form, values kept


def test_multi_stage_shows_the_next_form(engine: cst.Engine) -> None:
    result = suspended(engine, STAGES, {"a": 1})
    first = result.form
    assert first is not None
    assert list(first.fields) == ["b", "c"]
    first.fields["b"].input.value = 2
    first.fields["c"].include.value = False
    first.button.click()
    assert result.status == "suspended"
    assert dict(result.missing_inputs) == {"c": "List<Int>"}
    second = result.form
    assert second is not None
    assert second is not first
    assert list(second.fields) == ["c"]
    assert result.view().children[5].children == (second.widget,)
    second.fields["c"].input.value = "[7, 8, 9]"
    second.button.click()
    assert result.status == "completed"
    assert result.outputs == {"z": 123}
    assert result.execution.resumption_count == 2


def test_engine_errors_are_shown_in_the_form(engine: cst.Engine) -> None:
    result = suspended(engine, APPROVAL, {"text": "hi"})
    form = result.form
    assert form is not None
    engine.delete_execution(result.execution_id)
    form.button.click()
    assert f"No execution &#x27;{result.execution_id}&#x27;" in form.status.value
    assert result.status == "suspended"
    assert not form.button.disabled


def test_resume_from_code_updates_a_shown_view(engine: cst.Engine) -> None:
    result = suspended(engine, APPROVAL, {"text": "hello world"})
    box = result.view()
    with pytest.raises(cst.InputError, match="Input 'approval': expected Boolean"):
        result.resume(approval="yes")
    assert result.status == "suspended"
    assert result.resume(approval=False) is result
    assert result.status == "completed"
    assert result.view() is box
    assert result.outputs == {"approved": None}
    assert result.states["summary"] in ("skipped", "not-needed")


def test_failed_execution_shows_failed_nodes_and_errors(engine: cst.Engine) -> None:
    source = "in t: String\nboom = Explode(t)\nout boom\n"
    pipeline = engine.compile(source)
    result = Result(engine, pipeline, engine.run(pipeline, {"t": "x"}))
    assert result.status == "failed"
    assert result.states["boom"] == "failed"
    assert 'fillcolor="#ffcdd2"' in result.dag.source
    html = result.static_html()
    assert "cannot handle x" in html
    assert " 2 | boom = Explode(t)" in html
    assert "boom failed at line 2" in result.text() or "boom in module" in result.text()


def test_mimebundle_has_static_html_and_text_and_the_widget_where_it_renders(
    engine: cst.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = suspended(engine, APPROVAL, {"text": "hello world"})
    result.variable = "review"
    bundle = result._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}  # no kernel here: no widget view
    html = str(bundle["text/html"])
    assert "review.resume(approval=True)" in html
    assert f"%constellation resume {result.execution_id} -i approval=True" in html
    assert "<svg" in html or "<pre" in html
    assert "needs input approval: Boolean" in str(bundle["text/plain"])
    monkeypatch.setattr(Result, "widgets", True)
    bundle = result._repr_mimebundle_()
    assert bundle[WIDGET_MIME] == {
        "version_major": 2,
        "version_minor": 0,
        "model_id": result.view().model_id,
    }
    assert set(result._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}
    assert WIDGET_MIME not in result._repr_mimebundle_(exclude={WIDGET_MIME})


def test_load_from_a_tinydb_store(tmp_path: Path) -> None:
    first = cst.Engine(registry=build_registry(), store=tmp_path / "store")
    try:
        execution = first.run(APPROVAL, {"text": "hello world"})
    finally:
        first.close()
    # A new engine on the same folder: a kernel restart.
    engine = cst.Engine(registry=build_registry(), store=tmp_path / "store")
    try:
        result = Result.load(engine, execution.execution_id)
        assert result.status == "suspended"
        assert dict(result.missing_inputs) == {"approval": "Boolean"}
        assert result.states["text"] == "completed"
        assert result.states["approval"] == "waiting"
        assert result.pipeline.structural_hash == execution.structural_hash
        assert result.form is not None
        result.resume(approval=True)
        assert result.status == "completed"
        loaded = Result.load(engine, execution.execution_id)
        assert loaded.status == "completed"
        assert loaded.outputs == {"approved": "hello"}
        with pytest.raises(cst.NotFound):
            Result.load(engine, "0" * 32)
    finally:
        engine.close()


def test_progress_redraws_at_most_every_interval(engine: cst.Engine) -> None:
    now = [0.0]
    redraws: list[dict[str, str]] = []
    pipeline = engine.compile("in a: Int\nx = Fee(a)\ny = Fee(x)\nz = Fee(y)\nout z\n")
    progress = Progress(pipeline, lambda p: redraws.append(dict(p.states)), clock=lambda: now[0])
    unsubscribe = engine.subscribe(progress)
    try:
        execution = engine.run(pipeline, {"a": 1})
    finally:
        unsubscribe()
    # The clock stood still: only the first event redrew.
    assert progress.events == 8  # started, 3 x (started, completed), completed
    assert len(redraws) == 1
    progress.finish(execution)
    assert redraws[-1]["z"] == "completed"
    assert progress.counts == (4, 4)
    # Events of other executions are ignored.
    engine.run(pipeline, {"a": 2})
    assert progress.events == 8


def test_progress_redraws_again_once_the_interval_passed(engine: cst.Engine) -> None:
    now = [0.0]
    seen: list[str] = []

    def tick(p: Progress) -> None:
        seen.append(",".join(f"{k}={v}" for k, v in sorted(p.states.items())))

    pipeline = engine.compile("in a: Int\nx = Fee(a)\nout x\n")
    progress = Progress(pipeline, tick, clock=lambda: now[0])

    def listener(event: cst.Event) -> None:
        progress(event)
        now[0] += 0.3  # every event comes 300 ms after the previous one

    unsubscribe = engine.subscribe(listener)
    try:
        engine.run(pipeline, {"a": 1})
    finally:
        unsubscribe()
    assert seen == ["", "x=running", "x=completed", "x=completed"]


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    yield shell
    InteractiveShell.clear_instance()


def test_run_live_shows_the_view_while_running_then_the_result(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Result, "widgets", True)
    seen: list[object] = []
    engine = cst.Engine(registry=build_registry(seen))
    try:
        pipeline = engine.compile("in t: String\np = Probe(t)\nq = Summarize(p)\nout q\n")
        with capture_output() as captured:
            # Probe runs while the live view is displayed: it records the view at that moment.
            def look(text: str) -> str:
                model = captured.outputs[0].data[WIDGET_MIME]["model_id"]
                box = ipywidgets.widget_serialization["from_json"](f"IPY_MODEL_{model}", None)
                seen.append((box.children[0].value, box.children[1].value))
                return text

            engine.registry.module(look, name="Probe")
            result = run_live(engine, pipeline, {"t": "hello world"})
        assert result.status == "completed", result.execution.errors
        assert result.outputs == {"q": "hello"}
        header, picture = seen[0]  # type: ignore[misc]
        assert header == "<b>running…</b>"
        assert picture  # the DAG was drawn before the first module ran
        # One display, then one update of the same display with the final result.
        assert len(captured.outputs) == 2
        final = captured.outputs[1].data
        assert final[WIDGET_MIME] == captured.outputs[0].data[WIDGET_MIME]
        assert "<code>hello</code>" in final["text/html"]
        box = result.view()
        assert box.children[0].value.startswith('<div class="cst-header"><b style="color:#2e7d32">')
        with capture_output() as quiet:
            run_live(engine, pipeline, {"t": "again"}, quiet=True)
        assert quiet.outputs == []
    finally:
        engine.close()


def test_run_live_without_widgets_displays_the_static_result(shell: InteractiveShell) -> None:
    engine = cst.Engine(registry=build_registry())
    try:
        pipeline = engine.compile("in t: String\nq = Summarize(t)\nout q\n")
        with capture_output() as captured:
            result = run_live(
                engine, pipeline, {"t": "hello world"}, show_dag=False, variable="mine"
            )
        assert result.outputs == {"q": "hello"}
        assert len(captured.outputs) == 1
        data = captured.outputs[0].data
        assert WIDGET_MIME not in data
        assert "<code>hello</code>" in data["text/html"]
        assert "<svg" not in data["text/html"]
        assert result.variable == "mine"
    finally:
        engine.close()


def test_a_failed_resume_from_code_keeps_the_form_usable(engine: cst.Engine) -> None:
    result = suspended(engine, APPROVAL, {"text": "hello world"})
    form = result.form
    assert form is not None
    form.fields["approval"].input.value = True
    with pytest.raises(cst.InputError):
        result.resume(aproval=True)
    assert result.form is form
    assert not form.button.disabled
    assert form.fields["approval"].input.value is True
    form.button.click()
    assert result.status == "completed"
