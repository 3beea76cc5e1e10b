"""An execution in a notebook: live view, resume (also from a form) and rich display.

:class:`Result` wraps the engine's :class:`~constellation.Execution` and replaces it on every
resume. Its widget view (DAG, progress, outputs, errors, the form of a suspended execution)
is built once and updated in place; its static HTML (inline SVG or a text outline, outputs,
errors, how to resume from code) goes with every display, for front ends without widgets.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import graphviz
import ipywidgets

from constellation import Engine, Execution, NodeError, NodeReport, Pipeline
from constellation.codec import DecodeError, decode
from constellation.store import ExecutionRecord
from constellation_jupyter import render
from constellation_jupyter.forms import Form, form_for
from constellation_jupyter.live import DONE, UNNEEDED, Progress, states_of

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_STATUS_COLOURS = {"completed": "#2e7d32", "suspended": "#1565c0", "failed": "#c62828"}


class Result:
    """An Execution in a notebook: live view, resume (also from a form), rich display.

    ``execution`` is replaced on every resume (the same execution id); the view, if shown,
    updates in place. ``variable`` is the name the result is bound to in the notebook, used
    in the "resume from code" note.
    """

    #: Whether displays include the widget view: None asks IPython (a kernel renders widgets).
    widgets: ClassVar[bool | None] = None

    def __init__(
        self,
        engine: Engine,
        pipeline: Pipeline,
        execution: Execution,
        *,
        show_dag: bool = True,
        variable: str = "_cst",
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.execution = execution
        self.show_dag = show_dag
        self.variable = variable
        self._panel: _Panel | None = None

    # -- the current execution --------------------------------------------------------------

    @property
    def outputs(self) -> Mapping[str, object]:
        return self.execution.outputs

    @property
    def status(self) -> str:
        return self.execution.status

    @property
    def execution_id(self) -> str:
        return self.execution.execution_id

    @property
    def missing_inputs(self) -> Mapping[str, str]:
        return self.execution.missing_inputs

    @property
    def states(self) -> dict[str, str]:
        """Node id → state in the current execution."""
        return states_of(self.execution)

    @property
    def dag(self) -> graphviz.Digraph:
        """The DAG coloured by the current state of the execution, with value tooltips."""
        return render.dag(
            self.pipeline, self.states, details={n.id: n for n in self.execution.nodes}
        )

    # -- resuming ---------------------------------------------------------------------------

    def resume(self, **inputs: object) -> Result:
        """Resume the same execution with ``inputs`` (JSON-like values); the view follows
        the run live and then shows the new state. Returns self. Raises the engine's errors
        (InputError, ResumeConflict, ExecutionExpired…) and leaves everything unchanged then."""
        panel = self._panel
        progress = Progress(
            self.pipeline,
            panel.live if panel is not None else _ignore,
            states=self.states,
            execution_id=self.execution_id,
        )
        unsubscribe = self.engine.subscribe(progress) if panel is not None else None
        try:
            self.execution = self.engine.resume(self.execution_id, inputs)
        except BaseException:
            if panel is not None:
                # Nothing changed: back to the view of the execution as it was.
                panel.show(self, keep_form=True)
            raise
        finally:
            if unsubscribe is not None:
                unsubscribe()
        if panel is not None:
            panel.show(self)
        return self

    # -- display ----------------------------------------------------------------------------

    def view(self) -> ipywidgets.Widget:
        """DAG, progress, outputs, errors and (when suspended) the form as one widget box,
        updated in place by :meth:`resume`."""
        return self._view().box

    @property
    def form(self) -> Form | None:
        """The form of the view while the execution is suspended (None otherwise)."""
        return self._view().form

    def _view(self) -> _Panel:
        if self._panel is None:
            self._panel = _Panel(self.pipeline, self.show_dag)
            self._panel.show(self)
        return self._panel

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, object]:
        """text/plain and static text/html always; the widget view too where widgets render."""
        bundle: dict[str, object] = {}
        if _widgets_render(self.widgets):
            widget_bundle = self.view()._repr_mimebundle_()
            bundle[_WIDGET_MIME] = widget_bundle[_WIDGET_MIME]
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = self.text()
        if include:
            bundle = {k: v for k, v in bundle.items() if k in include}
        if exclude:
            bundle = {k: v for k, v in bundle.items() if k not in exclude}
        return bundle

    def static_html(self) -> str:
        """The result without widgets: header, DAG (SVG or outline), outputs, errors and,
        when suspended, how to resume from code."""
        execution = self.execution
        parts = [_header(execution)]
        if self.show_dag:
            parts.append(
                render.dag_html(
                    self.pipeline, self.states, details={n.id: n for n in execution.nodes}
                )
            )
        parts.append(render.outputs_table(execution))
        parts.append(render.errors_list(execution, self.pipeline))
        parts.extend(
            f'<div style="color:#ef6c00">warning: {html.escape(w)}</div>'
            for w in execution.warnings
        )
        if execution.status == "suspended":
            parts.append(
                '<div class="cst-resume">Waiting for input. Resume from code: '
                f"<code>{html.escape(self.resume_hint())}</code> or "
                f"<code>{html.escape(self.magic_hint())}</code></div>"
            )
        return f'<div class="cst-result">{"".join(parts)}</div>'

    def text(self) -> str:
        """The result as plain text, with how to resume when suspended."""
        text = str(self.execution)
        if self.execution.errors:
            text += "\n" + render.errors_text(self.execution, self.pipeline)
        if self.execution.status == "suspended":
            text += f"\nresume with {self.resume_hint()} or {self.magic_hint()}"
        return text

    def resume_hint(self) -> str:
        """``_cst.resume(approval=True)``: resuming from Python, with placeholder values."""
        args = ", ".join(f"{n}={_placeholder(t)}" for n, t in self.missing_inputs.items())
        return f"{self.variable}.resume({args})"

    def magic_hint(self) -> str:
        """``%constellation resume ID -i approval=True``: resuming with the line magic."""
        args = "".join(f" -i {n}={_placeholder(t)}" for n, t in self.missing_inputs.items())
        return f"%constellation resume {self.execution_id}{args}"

    def __repr__(self) -> str:
        return f"<Result {self.execution_id[:12]} {self.status}>"

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, engine: Engine, execution_id: str) -> Result:
        """A stored execution, from ``engine.execution(id)`` and ``engine.pipeline(hash)``.

        Node states come from the values the store kept (completed nodes) and the inputs
        still missing (waiting); durations are not stored.
        """
        record = engine.execution(execution_id)
        pipeline = engine.pipeline(record.structural_hash)
        return cls(engine, pipeline, _execution_of(engine, pipeline, record))


def run_live(
    engine: Engine,
    pipeline: Pipeline,
    inputs: Mapping[str, object],
    *,
    show_dag: bool = True,
    quiet: bool = False,
    variable: str = "_cst",
) -> Result:
    """Execute ``pipeline`` with ``inputs``, showing the DAG redrawn from the engine's events
    (at most four times a second), a progress bar (done / needed nodes) and the elapsed
    time; then the final view in the same output. ``quiet`` shows nothing. ``variable`` is
    the name the caller binds the result to (for the "resume from code" note). The caller
    should not display the returned Result again (it already is)."""
    from IPython.display import display

    live = not quiet and _widgets_render(Result.widgets)
    panel = _Panel(pipeline, show_dag) if live else None
    handle = None
    if panel is not None:
        bundle = {
            _WIDGET_MIME: panel.box._repr_mimebundle_()[_WIDGET_MIME],
            "text/plain": "running…",
        }
        handle = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
    progress = Progress(pipeline, panel.live if panel is not None else _ignore)
    unsubscribe = engine.subscribe(progress) if panel is not None else None
    try:
        execution = engine.execute_pipeline(pipeline, inputs)
    finally:
        if unsubscribe is not None:
            unsubscribe()
    result = Result(engine, pipeline, execution, show_dag=show_dag, variable=variable)
    if panel is not None:
        result._panel = panel
        panel.show(result)
    if handle is not None:
        handle.update(result)
    elif not quiet and _in_ipython():
        display(result)  # type: ignore[no-untyped-call]
    return result


class _Panel:
    """The widgets of one result's view; ``live`` follows a run, ``show`` a settled state."""

    def __init__(self, pipeline: Pipeline, show_dag: bool) -> None:
        self.pipeline = pipeline
        self.show_dag = show_dag
        self.header = ipywidgets.HTML(value="")
        self.dag = ipywidgets.HTML(value="", layout=ipywidgets.Layout(overflow="auto"))
        self.bar = ipywidgets.IntProgress(
            value=0, min=0, max=max(len(pipeline.nodes), 1), description="nodes"
        )
        self.elapsed = ipywidgets.Label(value="")
        self.outputs = ipywidgets.HTML(value="")
        self.errors = ipywidgets.HTML(value="")
        self.form_box = ipywidgets.VBox([])
        self.form: Form | None = None
        self.output = ipywidgets.Output()
        parts: list[Any] = [self.header]
        if show_dag:
            parts.append(self.dag)
        parts += [
            ipywidgets.HBox([self.bar, self.elapsed]),
            self.outputs,
            self.errors,
            self.form_box,
            self.output,
        ]
        self.box = ipywidgets.VBox(parts)

    def live(self, progress: Progress) -> None:
        done, needed = progress.counts
        self.header.value = "<b>running…</b>"
        if self.show_dag:
            self.dag.value = render.dag_html(self.pipeline, progress.states)
        self.bar.max = max(needed, 1)
        self.bar.value = min(done, self.bar.max)
        self.bar.bar_style = "info"
        self.elapsed.value = f"{done}/{needed} · {progress.elapsed:.1f} s"
        if self.form is not None:
            self.form.set_running(True)

    def show(self, result: Result, *, keep_form: bool = False) -> None:
        """The settled state of ``result``; ``keep_form`` keeps the form and what was typed
        into it (after a failed resume)."""
        execution = result.execution
        states = result.states
        details: dict[str, NodeReport] = {n.id: n for n in execution.nodes}
        self.header.value = _header(execution)
        if self.show_dag:
            self.dag.value = render.dag_html(self.pipeline, states, details=details)
        done = sum(1 for s in states.values() if s in DONE)
        needed = sum(1 for s in states.values() if s not in UNNEEDED)
        self.bar.max = max(needed, 1)
        self.bar.value = min(done, self.bar.max)
        self.bar.bar_style = {"completed": "success", "failed": "danger"}.get(
            execution.status, "info"
        )
        self.elapsed.value = f"{done}/{needed} · {execution.duration_ms:.1f} ms"
        self.outputs.value = render.outputs_table(execution)
        self.errors.value = render.errors_list(execution, self.pipeline)
        if keep_form and self.form is not None:
            self.form.set_running(False)
        elif execution.status == "suspended":
            # A new form for every suspension: a multi-stage pipeline asks for the next inputs.
            self.form = form_for(
                execution.input_schema,
                lambda values: _submit(result, values),
                types=execution.missing_inputs,
                output=self.output,
            )
            self.form_box.children = (self.form.widget,)
        else:
            self.form = None
            self.form_box.children = ()


def _submit(result: Result, values: dict[str, object]) -> None:
    result.resume(**values)


def _header(execution: Execution) -> str:
    colour = _STATUS_COLOURS.get(execution.status, "#616161")
    resumed = f" · resumed {execution.resumption_count}×" if execution.resumption_count else ""
    return (
        f'<div class="cst-header"><b style="color:{colour}">{html.escape(execution.status)}</b>'
        f' <span style="color:#757575">execution <code>{html.escape(execution.execution_id)}'
        f"</code> · {execution.duration_ms:.1f} ms{resumed}</span></div>"
    )


def _placeholder(type_text: str) -> str:
    return {"String": '"…"', "Int": "0", "Float": "0.0", "Boolean": "True"}.get(type_text, "…")


def _ignore(_progress: Progress) -> None:
    pass


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the extension
        return False
    return get_ipython() is not None


def _widgets_render(setting: bool | None) -> bool:
    """Whether widget views can render: a kernel (with a comm channel) is running."""
    if setting is not None:
        return setting
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _execution_of(engine: Engine, pipeline: Pipeline, record: ExecutionRecord) -> Execution:
    """The Execution a stored record describes (outputs decoded to run-time values)."""
    summary = record.summary
    output_types = engine.plan(pipeline).output_types
    outputs: dict[str, object] = {}
    raw_outputs = summary.get("outputs", {})
    if isinstance(raw_outputs, Mapping):
        for name, raw in raw_outputs.items():
            t = output_types.get(name)
            try:
                outputs[name] = decode(raw, t) if t is not None else raw
            except DecodeError:
                outputs[name] = raw
    errors = tuple(
        NodeError(
            node=str(e.get("node")),
            module=e.get("module"),
            message=str(e.get("message")),
            line=int(e.get("line", 0)),
            column=int(e.get("column", 0)),
        )
        for e in _list(summary.get("errors"))
        if isinstance(e, Mapping)
    )
    missing = summary.get("missingInputs", {})
    missing_inputs = (
        {str(k): str(v) for k, v in missing.items()} if isinstance(missing, Mapping) else {}
    )
    schema = summary.get("inputSchema", {})
    values = record.state.get("values", {})
    saved = values if isinstance(values, Mapping) else {}
    reports = _stored_reports(pipeline, saved, missing_inputs)
    # A record caught mid-resume ("resuming") is still a suspended execution to the reader.
    status = record.status if record.status in ("completed", "failed") else "suspended"
    duration = summary.get("durationMs", 0.0)
    count = summary.get("resumptionCount", 0)
    return Execution(
        execution_id=record.execution_id,
        status=status,
        structural_hash=record.structural_hash,
        outputs=outputs,
        pending_outputs=tuple(str(x) for x in _list(summary.get("pendingOutputs"))),
        missing_inputs=missing_inputs,
        input_schema=schema if isinstance(schema, Mapping) else {},
        error=summary.get("error") if isinstance(summary.get("error"), str) else None,  # type: ignore[arg-type]
        errors=errors,
        resumption_count=count if isinstance(count, int) else 0,
        warnings=tuple(str(w) for w in _list(summary.get("warnings"))),
        duration_ms=float(duration) if isinstance(duration, int | float) else 0.0,
        output_types=output_types,
        node_reports=lambda: reports,
    )


def _stored_reports(
    pipeline: Pipeline, saved: Mapping[str, object], missing: Mapping[str, str]
) -> tuple[NodeReport, ...]:
    reports: list[NodeReport] = []
    for node in pipeline.nodes:
        if node.id in saved:
            preview = _preview(saved[node.id])
            reports.append(NodeReport(node.id, node.name, node.kind, "completed", None, preview))
        elif node.kind == "input" and node.id in missing:
            reports.append(NodeReport(node.id, node.name, node.kind, "waiting"))
    return tuple(reports)


def _preview(raw: object) -> str:
    text = json.dumps(raw, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


__all__ = ["Result", "run_live"]
