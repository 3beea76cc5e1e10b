"""Static pictures of pipelines and executions for notebooks: the DAG, outlines, tables, panels.

Pure functions from engine values to a ``graphviz.Digraph``, HTML or plain text; no widgets.
Everything shown in HTML is escaped here, because values and messages are user data.
"""

from __future__ import annotations

import functools
import html
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import graphviz

from constellation import CompileError, Execution, NodeReport, Pipeline
from constellation.dot import dag_json
from constellation.source import Source
from constellation.types import show
from constellation.values import render as render_value

#: The states a node can be shown in; absent from the mapping means idle (not started).
STATES = ("completed", "running", "waiting", "failed", "skipped", "not-needed")


@dataclass(frozen=True, slots=True)
class Look:
    """How one state is drawn: fill, border colour, border style and the legend's words."""

    fill: str
    border: str
    style: str
    legend: str


LOOKS: Mapping[str, Look] = {
    "completed": Look("#c8e6c9", "#2e7d32", "filled", "completed"),
    "running": Look("#fff59d", "#f9a825", "filled,bold", "running"),
    "waiting": Look("#bbdefb", "#1565c0", "filled,dashed", "waiting for input"),
    "failed": Look("#ffcdd2", "#c62828", "filled,bold", "failed"),
    "skipped": Look("#eeeeee", "#9e9e9e", "filled,dashed", "skipped (branch not taken)"),
    "not-needed": Look("#fafafa", "#bdbdbd", "filled,dotted", "not needed"),
}
IDLE = Look("#ffffff", "#616161", "filled", "not started")

_SHAPES = {"input": "ellipse", "call": "box", "value": "box", "output": "doubleoctagon"}
_FOLD_CHARS = 80
_INSTALL = (
    "install Graphviz to draw the DAG: apt-get install graphviz, conda install graphviz "
    "or brew install graphviz"
)


class GraphvizMissingWarning(UserWarning):
    """The ``dot`` program is missing: DAGs are shown as text outlines."""


# -- the DAG ---------------------------------------------------------------------------------


def dag(
    pipeline: Pipeline,
    states: Mapping[str, str] | None = None,
    *,
    details: Mapping[str, NodeReport] | None = None,
) -> graphviz.Digraph:
    """The DAG as a graphviz Digraph: inputs (ellipses), calls and values (boxes), outputs.

    ``states`` maps node ids to one of :data:`STATES` (absent = idle); output nodes
    (``out:<name>``) take the state of the node they report unless given. ``details``
    (node reports by id) become tooltips: value preview, duration and error. A legend lists
    the states shown.
    """
    shown = _all_states(pipeline, states or {})
    details = details or {}
    graph = graphviz.Digraph("pipeline")
    graph.attr(rankdir="LR", bgcolor="transparent")
    graph.attr("node", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9", color="#616161")
    structure = dag_json(pipeline)
    nodes: list[dict[str, object]] = structure["nodes"]  # type: ignore[assignment]
    edges: list[dict[str, object]] = structure["edges"]  # type: ignore[assignment]
    # DOT names are positions, not ids: an output's id ``out:x`` would read as a port.
    names = {str(node["id"]): f"n{i}" for i, node in enumerate(nodes)}
    for node in nodes:
        nid = str(node["id"])
        kind = str(node["kind"])
        state = shown.get(nid)
        look = LOOKS.get(state, IDLE) if state is not None else IDLE
        style = look.style + (",rounded" if kind == "call" else "")
        graph.node(
            names[nid],
            label=_node_label(node),
            shape=_SHAPES.get(kind, "box"),
            style=style,
            fillcolor=look.fill,
            color=look.border,
            tooltip=_tooltip(node, state, details.get(nid)),
            **{"class": f"cst-node cst-{state or 'idle'}"},
        )
    for edge in edges:
        attrs: dict[str, str] = {}
        if edge["label"]:
            attrs["label"] = str(edge["label"])
        if edge["lazy"]:
            attrs["style"] = "dashed"
        graph.edge(names[str(edge["from"])], names[str(edge["to"])], **attrs)
    used = [s for s in STATES if s in shown.values()]
    if used:
        with graph.subgraph(name="cluster_legend") as legend:
            legend.attr(label="", style="rounded", color="#e0e0e0", rank="sink")
            for state in used:
                look = LOOKS[state]
                legend.node(
                    f"legend_{state.replace('-', '_')}",
                    label=look.legend,
                    shape="box",
                    style=look.style,
                    fillcolor=look.fill,
                    color=look.border,
                    fontsize="9",
                    tooltip=look.legend,
                )
    return graph


def _all_states(pipeline: Pipeline, states: Mapping[str, str]) -> dict[str, str]:
    shown = dict(states)
    for name, nid in pipeline.outputs:
        out = f"out:{name}"
        if out not in shown and nid in states:
            shown[out] = states[nid]
    return shown


def _node_label(node: Mapping[str, object]) -> str:
    kind, name, module = node["kind"], node["name"], node["module"]
    if kind == "call":
        return f"{name}\n{module}" if name else str(module)
    if kind == "output":
        return str(name)
    return f"{name or node['label']}\n{node['type']}"


def _tooltip(node: Mapping[str, object], state: str | None, report: NodeReport | None) -> str:
    parts = [f"{node['name'] or node['label']}: {node['type']}", state or "not started"]
    if report is not None:
        if report.preview is not None:
            parts.append(f"value: {report.preview}")
        if report.duration_ms is not None:
            parts.append(f"took {report.duration_ms:.3g} ms")
        if report.error:
            parts.append(f"error: {report.error}")
    return "\n".join(parts)


@functools.cache
def dot_available() -> bool:
    """Whether the Graphviz ``dot`` program is on PATH (looked up once per process)."""
    return shutil.which("dot") is not None


_warned: dict[str, bool] = {"dot": False}


def svg(graph: graphviz.Digraph) -> str | None:
    """The SVG text of ``graph``, or None (and one warning per process) without ``dot``."""
    if not dot_available():
        if not _warned["dot"]:
            _warned["dot"] = True
            warnings.warn(
                f"The Graphviz 'dot' program is not on PATH, so DAGs are shown as text "
                f"outlines; {_INSTALL}",
                GraphvizMissingWarning,
                stacklevel=2,
            )
        return None
    data: bytes = graph.pipe(format="svg")
    text = data.decode("utf-8")
    # Drop the XML prolog and doctype: the SVG goes inline into HTML.
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def dag_html(
    pipeline: Pipeline,
    states: Mapping[str, str] | None = None,
    *,
    details: Mapping[str, NodeReport] | None = None,
) -> str:
    """The DAG as inline SVG in HTML, or the text outline in a ``<pre>`` without ``dot``."""
    picture = svg(dag(pipeline, states, details=details))
    if picture is not None:
        return f'<div class="cst-dag" style="overflow-x:auto">{picture}</div>'
    return f'<pre class="cst-dag">{_e(outline(pipeline, states))}</pre>'


def outline(pipeline: Pipeline, states: Mapping[str, str] | None = None) -> str:
    """A plain-text outline of the DAG, for when ``dot`` is missing: one line per node with
    its kind, name, type, what it depends on and its state."""
    shown = _all_states(pipeline, states or {})
    structure = dag_json(pipeline)
    nodes: list[dict[str, object]] = structure["nodes"]  # type: ignore[assignment]
    edges: list[dict[str, object]] = structure["edges"]  # type: ignore[assignment]
    feeds: dict[str, list[str]] = {}
    for edge in edges:
        label = f"{edge['from']} as {edge['label']}" if edge["label"] else str(edge["from"])
        feeds.setdefault(str(edge["to"]), []).append(label)
    lines: list[str] = []
    headings = {"input": "inputs", "call": "steps", "value": "steps", "output": "outputs"}
    heading = ""
    for node in nodes:
        nid, kind = str(node["id"]), str(node["kind"])
        if headings.get(kind, "steps") != heading:
            heading = headings.get(kind, "steps")
            lines.append(f"{heading}:")
        if kind == "call":
            what = f"{node['name'] or nid} = {node['module']}(…): {node['type']}"
        else:
            what = f"{node['name'] or node['label'] or nid}: {node['type']}"
        sources = feeds.get(nid, [])
        arrow = f"  <- {', '.join(sources)}" if sources and kind != "input" else ""
        state = shown.get(nid)
        mark = f"  [{LOOKS[state].legend if state in LOOKS else state}]" if state else ""
        lines.append(f"  {what}{arrow}{mark}")
    return "\n".join(lines)


# -- compile errors --------------------------------------------------------------------------


def diagnostics_panel(error: CompileError, *, title: str | None = None) -> tuple[str, str]:
    """Compile errors as (HTML, plain text): each diagnostic's code, message, line and
    column, the source excerpt with a caret, and the hint. Line numbers are those of the
    compiled source, so the magic passes the cell's text as it is."""
    errors = error.errors
    count = len(errors) + error.omitted
    head = title or f"{count} {'error' if count == 1 else 'errors'} in the pipeline"
    text_parts = [head]
    items: list[str] = []
    for d in error.diagnostics:
        excerpt = (
            error.source.excerpt(d.line, d.column, d.end_line, d.end_column)
            if error.source is not None and d.line >= 1
            else ""
        )
        where = f"line {d.line}, column {d.column}"
        text = f"{d.severity} {d.code} at {where}: {d.message}"
        if excerpt:
            text += "\n" + excerpt
        if d.hint:
            text += f"\n  hint: {d.hint}"
        text_parts.append(text)
        colour = "#c62828" if d.is_error else "#ef6c00"
        hint = f'<div style="color:#1565c0">hint: {_e(d.hint)}</div>' if d.hint else ""
        pre = f'<pre style="margin:4px 0">{_e(excerpt)}</pre>' if excerpt else ""
        items.append(
            f'<li style="margin-bottom:8px"><b style="color:{colour}">{_e(d.severity)} '
            f"{_e(d.code)}</b> <span>{_e(d.message)}</span> "
            f'<span style="color:#757575">({_e(where)})</span>{pre}{hint}</li>'
        )
    if error.omitted:
        more = f"{error.omitted} more not shown: the diagnostic limit was reached"
        text_parts.append(f"({more})")
        items.append(f"<li>({_e(more)})</li>")
    panel = (
        '<div class="cst-diagnostics" style="border-left:4px solid #c62828;'
        'padding:6px 10px;background:#fff5f5">'
        f'<div style="font-weight:bold;color:#c62828">{_e(head)}</div>'
        f'<ul style="list-style:none;padding-left:0;margin:6px 0">{"".join(items)}</ul></div>'
    )
    return panel, "\n\n".join(text_parts)


# -- results ---------------------------------------------------------------------------------


def outputs_table(execution: Execution) -> str:
    """The outputs of ``execution`` as an HTML table (name, type, value); long values fold
    into a ``<details>`` element, pending outputs say so."""
    rows: list[str] = []
    for name, value in execution.outputs.items():
        t = execution.output_types.get(name)
        type_text = show(t) if t is not None else type(value).__name__
        text = render_value(value, t) if t is not None else repr(value)
        rows.append(_row(name, type_text, _folded(text)))
    for name in execution.pending_outputs:
        t = execution.output_types.get(name)
        rows.append(
            _row(name, show(t) if t is not None else "", '<i style="color:#1565c0">pending</i>')
        )
    if not rows:
        return '<div class="cst-outputs"><i>no outputs</i></div>'
    return (
        '<table class="cst-outputs"><thead><tr><th style="text-align:left">output</th>'
        '<th style="text-align:left">type</th><th style="text-align:left">value</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _row(name: str, type_text: str, cell: str) -> str:
    return (
        f'<tr><td style="text-align:left"><code>{_e(name)}</code></td>'
        f'<td style="text-align:left">{_e(type_text)}</td>'
        f'<td style="text-align:left">{cell}</td></tr>'
    )


def _folded(text: str) -> str:
    """Short values as they are; long or multi-line ones behind a summary that unfolds."""
    if len(text) <= _FOLD_CHARS and "\n" not in text:
        return f"<code>{_e(text)}</code>"
    first = text.split("\n", 1)[0][: _FOLD_CHARS - 1] + "…"
    return (
        f"<details><summary><code>{_e(first)}</code> ({len(text)} characters)</summary>"
        f'<pre style="white-space:pre-wrap">{_e(text)}</pre></details>'
    )


def errors_list(execution: Execution, pipeline: Pipeline) -> str:
    """The failed nodes of ``execution`` as HTML: node, module, message and the source line
    with a caret under the failed call. Empty when nothing failed."""
    if not execution.errors:
        return ""
    source = Source(pipeline.source)
    items: list[str] = []
    for e in execution.errors:
        module = f" in module <code>{_e(e.module)}</code>" if e.module else ""
        excerpt = source.excerpt(e.line, e.column) if e.line >= 1 else ""
        pre = f'<pre style="margin:4px 0">{_e(excerpt)}</pre>' if excerpt else ""
        items.append(
            f'<li style="margin-bottom:8px"><b style="color:#c62828">{_e(e.node)}</b>{module} '
            f"failed at line {e.line}, column {e.column}: {_e(e.message)}{pre}</li>"
        )
    return (
        '<div class="cst-errors" style="border-left:4px solid #c62828;padding:6px 10px">'
        f'<div style="font-weight:bold;color:#c62828">{len(execution.errors)} failed '
        f"{'node' if len(execution.errors) == 1 else 'nodes'}</div>"
        f'<ul style="list-style:none;padding-left:0;margin:6px 0">{"".join(items)}</ul></div>'
    )


def errors_text(execution: Execution, pipeline: Pipeline) -> str:
    """The failed nodes as plain text, like :func:`errors_list`."""
    source = Source(pipeline.source)
    parts = []
    for e in execution.errors:
        module = f" in module {e.module}" if e.module else ""
        head = f"{e.node}{module} failed at line {e.line}, column {e.column}: {e.message}"
        parts.append(head + ("\n" + source.excerpt(e.line, e.column) if e.line >= 1 else ""))
    return "\n".join(parts)


def signature(pipeline: Pipeline) -> str:
    """The inputs (type, default, ``@doc``, ``@example``) and outputs (type) of
    ``pipeline`` as HTML, for ``%constellation show``."""
    rows: list[str] = []
    for spec in pipeline.inputs:
        notes: list[str] = []
        if spec.doc:
            notes.append(_e(spec.doc))
        if spec.has_default:
            notes.append(f"default <code>{_e(render_value(spec.default, spec.type))}</code>")
        if spec.examples:
            shown = ", ".join(
                f"<code>{_e(render_value(x, spec.type))}</code>" for x in spec.examples
            )
            notes.append(f"e.g. {shown}")
        rows.append(
            f"<tr><td>in</td><td><code>{_e(spec.name)}</code></td><td>{_e(show(spec.type))}</td>"
            f"<td>{'; '.join(notes)}</td></tr>"
        )
    for name, nid in pipeline.outputs:
        t = pipeline.nodes[pipeline.index[nid]].type
        rows.append(
            f"<tr><td>out</td><td><code>{_e(name)}</code></td><td>{_e(show(t))}</td><td></td></tr>"
        )
    return (
        '<table class="cst-signature"><thead><tr><th></th><th style="text-align:left">name</th>'
        '<th style="text-align:left">type</th><th style="text-align:left"></th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


__all__ = [
    "IDLE",
    "LOOKS",
    "STATES",
    "GraphvizMissingWarning",
    "Look",
    "dag",
    "dag_html",
    "diagnostics_panel",
    "dot_available",
    "errors_list",
    "errors_text",
    "outline",
    "outputs_table",
    "signature",
    "svg",
]
