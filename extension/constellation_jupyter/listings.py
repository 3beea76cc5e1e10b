"""What the line magics show: small tables, a pipeline's picture and signature, and the
executions list with a button per suspended row that opens its form."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import ipywidgets
from IPython.display import display as _display

from constellation import Pipeline
from constellation_jupyter import render
from constellation_jupyter.result import Result

display = cast(Callable[..., None], _display)


@dataclass(frozen=True, slots=True)
class Table:
    """A small table shown as HTML in notebooks and as aligned text elsewhere."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "(none)"

    def __str__(self) -> str:
        if not self.rows:
            return self.empty
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) for i, h in enumerate(self.headers)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in self.rows]
        return "\n".join(line.rstrip() for line in lines)

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<p><em>{html.escape(self.empty)}</em></p>"
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


@dataclass(frozen=True, slots=True)
class PipelineView:
    """What ``%constellation show`` displays: the DAG (SVG, or an outline) and the signature."""

    name: str
    pipeline: Pipeline

    def _repr_mimebundle_(
        self, include: object = None, exclude: object = None
    ) -> dict[str, object]:
        text = f"pipeline {self.name} ({self.pipeline.structural_hash[:12]})\n"
        text += render.outline(self.pipeline)
        title = f"<h4>{html.escape(self.name)}</h4>"
        picture = render.dag_html(self.pipeline)
        return {"text/html": title + picture + render.signature(self.pipeline), "text/plain": text}


class ExecutionList:
    """The executions table with an "Open" button per suspended row that shows its form."""

    def __init__(
        self, table: Table, suspended: tuple[str, ...], open_: Callable[[str], Result]
    ) -> None:
        self.table = table
        self.suspended = suspended
        self._open = open_

    def widget(self) -> ipywidgets.Widget:
        shown = ipywidgets.Output()
        buttons = []
        for execution_id in self.suspended:
            button = ipywidgets.Button(
                description=f"Open {execution_id[:8]}", tooltip=f"the form of {execution_id}"
            )
            button.on_click(lambda _b, eid=execution_id: self._show(eid, shown))
            buttons.append(button)
        table = ipywidgets.HTML(self.table._repr_html_())
        return ipywidgets.VBox([table, ipywidgets.HBox(buttons), shown])

    def _show(self, execution_id: str, shown: ipywidgets.Output) -> None:
        # Inside the Output, so an error opening the execution is shown there, not lost.
        with shown:
            shown.clear_output()
            display(self._open(execution_id).view())

    def _repr_mimebundle_(
        self, include: object = None, exclude: object = None
    ) -> dict[str, object]:
        bundle: dict[str, object] = dict(self.widget()._repr_mimebundle_() or {})
        bundle["text/html"] = self.table._repr_html_()
        bundle["text/plain"] = str(self.table)
        return bundle


def when(timestamp: float) -> str:
    """A store timestamp as local date and time."""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
