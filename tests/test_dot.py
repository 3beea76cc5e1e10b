"""Pictures of a pipeline: Graphviz DOT and the DAG as JSON for clients."""

from __future__ import annotations

import json

from constellation import types as ty
from constellation.ir import (
    Node,
    Pipeline,
)
from tests.test_ir import INT, WRAPPED, sample


def test_dot_shows_nodes_outputs_and_labelled_edges() -> None:
    """Inputs, values, calls and outputs; call edges named by parameter; lazy edges dashed."""
    dot = sample().to_dot()
    assert dot.startswith("digraph pipeline {\n")
    assert dot.endswith("}\n")
    assert '"n" [label="n\\nInt", shape=ellipse' in dot
    assert '"profile" [label="profile\\ncrm.Fetch", shape=box, style="rounded,filled"' in dot
    assert '"total~1" [label="crm.Fetch"' in dot
    assert '"n" -> "profile" [label="key, fallback"];' in dot
    assert '"total~1" -> "total" [style=dashed];' in dot
    assert '"out:total" [label="total", shape=doubleoctagon];' in dot
    assert '"total" -> "out:total";' in dot


def test_dot_escapes_quotes_backslashes_and_line_breaks() -> None:
    """Whatever text ends up in an id or a label is a valid DOT string."""
    t = ty.record([("a", INT)])
    node = Node('we"ird\\id\nx', "input", "n", None, t)
    dot = Pipeline.build((node,), (), (), "").to_dot()
    assert '"we\\"ird\\\\id\\nx" [label="we\\"ird\\\\id\\nx\\n{ a: Int }"' in dot


def test_dag_json_for_clients() -> None:
    """Nodes with kinds, types and modules; edges with laziness and parameter labels."""
    dag = sample().dag_json()
    nodes = {n["id"]: n for n in dag["nodes"]}  # type: ignore[attr-defined]
    assert nodes["profile"]["module"] == "crm.Fetch"
    assert nodes["profile"]["type"] == ty.show(WRAPPED)
    assert nodes["out:lists"] == {
        "id": "out:lists",
        "kind": "output",
        "name": "lists",
        "label": "lists",
        "type": "List<{ a: Int, b: Int }>",
        "module": None,
        "line": 0,
        "column": 0,
    }
    edges = dag["edges"]
    assert {"from": "n", "to": "profile", "lazy": False, "label": "key, fallback"} in edges  # type: ignore[operator]
    assert {"from": "total~1", "to": "total", "lazy": True, "label": None} in edges  # type: ignore[operator]
    json.dumps(dag)
