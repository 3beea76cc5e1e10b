"""Pictures of a compiled pipeline: Graphviz DOT and the DAG as JSON for clients.

Both show inputs, computed values, module calls and outputs, with lazy edges told apart and
edges into a call labelled with the parameter (or ``fallback``) they feed.
"""

from __future__ import annotations

from constellation import types as ty
from constellation.ir import Expr, Node, Pipeline, dependencies


def to_dot(pipeline: Pipeline) -> str:
    """Graphviz DOT of the DAG: inputs, values, calls and outputs; lazy edges dashed; edges
    into calls labelled with the parameter they feed."""
    lines = [
        "digraph pipeline {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for node in pipeline.nodes:
        type_text = ty.show(node.type)
        if node.kind == "input":
            label = f"{node.id}\n{type_text}"
            attrs = 'shape=ellipse, style=filled, fillcolor="#e8f0fe"'
        elif node.kind == "call":
            call = node.call
            module = call.function if call is not None else node.label
            label = f"{node.name}\n{module}" if node.name else module
            attrs = 'shape=box, style="rounded,filled", fillcolor="#fff4e0"'
        else:
            label = f"{node.id}\n{type_text}"
            attrs = "shape=box"
        lines.append(f"  {_dot_id(node.id)} [label={_dot_id(label)}, {attrs}];")
    for name, _ in pipeline.outputs:
        lines.append(f"  {_dot_id('out:' + name)} [label={_dot_id(name)}, shape=doubleoctagon];")
    for node in pipeline.nodes:
        labels = _edge_labels(node)
        for dep, lazy in [(d, False) for d in node.deps] + [(d, True) for d in node.lazy_deps]:
            edge_attrs: list[str] = []
            if dep in labels:
                edge_attrs.append(f"label={_dot_id(labels[dep])}")
            if lazy:
                edge_attrs.append("style=dashed")
            suffix = f" [{', '.join(edge_attrs)}]" if edge_attrs else ""
            lines.append(f"  {_dot_id(dep)} -> {_dot_id(node.id)}{suffix};")
    for name, nid in pipeline.outputs:
        lines.append(f"  {_dot_id(nid)} -> {_dot_id('out:' + name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dag_json(pipeline: Pipeline) -> dict[str, object]:
    """The DAG for clients: ``{"nodes": [...], "edges": [...]}``; outputs are nodes of kind
    ``output`` (id ``out:<name>``) fed by the node they report."""
    nodes: list[dict[str, object]] = []
    edges: list[dict[str, object]] = []
    for node in pipeline.nodes:
        call = node.call
        nodes.append(
            {
                "id": node.id,
                "kind": node.kind,
                "name": node.name,
                "label": node.label,
                "type": ty.show(node.type),
                "module": call.function if call is not None else None,
                "line": node.line,
                "column": node.column,
            }
        )
        labels = _edge_labels(node)
        for dep in node.deps:
            edges.append({"from": dep, "to": node.id, "lazy": False, "label": labels.get(dep)})
        for dep in node.lazy_deps:
            edges.append({"from": dep, "to": node.id, "lazy": True, "label": labels.get(dep)})
    for name, nid in pipeline.outputs:
        out_id = f"out:{name}"
        nodes.append(
            {
                "id": out_id,
                "kind": "output",
                "name": name,
                "label": name,
                "type": ty.show(pipeline.nodes[pipeline.index[nid]].type),
                "module": None,
                "line": 0,
                "column": 0,
            }
        )
        edges.append({"from": nid, "to": out_id, "lazy": False, "label": None})
    return {"nodes": nodes, "edges": edges}


def _dot_id(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


def _edge_labels(node: Node) -> dict[str, str]:
    """For a call node: dependency id → the parameter(s) it flows into (``fallback`` too)."""
    call = node.call
    if call is None:
        return {}
    found: dict[str, list[str]] = {}
    for i, arg in enumerate(call.args):
        param = call.param_names[i] if i < len(call.param_names) else f"arg{i + 1}"
        for ref in _refs(arg):
            names = found.setdefault(ref, [])
            if param not in names:
                names.append(param)
    if call.options.fallback is not None:
        for ref in _refs(call.options.fallback):
            names = found.setdefault(ref, [])
            if "fallback" not in names:
                names.append("fallback")
    return {ref: ", ".join(names) for ref, names in found.items()}


def _refs(expr: Expr) -> list[str]:
    strict, lazy = dependencies(expr)
    return [*strict, *lazy]


__all__ = ["dag_json", "to_dot"]
