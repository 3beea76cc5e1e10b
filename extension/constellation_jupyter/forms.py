"""Forms for suspended executions: one widget per missing input, chosen from its JSON Schema.

``String`` → text box, ``Int`` → integer box, ``Float`` → float box, ``Boolean`` → checkbox,
``Optional<T>`` → the T widget and a "none" toggle, anything else (lists, records, maps,
unions) → a JSON text area checked against the schema on every change. ``description``
(``@doc``) labels a field and the first of ``examples`` (``@example``) prefills it. The
Resume button checks every field first: a bad value shows a message next to its field and
nothing is submitted. With several inputs, each has a "send now" tick box: unticked inputs
are left for a later resume (the execution suspends again and shows the next form).
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets

from constellation import ConstellationError

Submit = Callable[[dict[str, object]], None]

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_ERROR_STYLE = "color:#c62828"


class FieldError(ValueError):
    """A field's value is not a value of its input's type; the message says why."""


class Field:
    """One input of the form: its widgets, how to read its value, and its inline message."""

    def __init__(
        self, name: str, schema: Mapping[str, Any], type_text: str | None, partial: bool = False
    ) -> None:
        """``partial``: show a "send now" tick box, so the input can be left for later."""
        self.name = name
        self.schema = schema
        inner = _optional_inner(schema)
        self.optional = inner is not None
        self.value_schema: Mapping[str, Any] = inner if inner is not None else schema
        examples = schema.get("examples")
        example = examples[0] if isinstance(examples, list) and examples else _NO_EXAMPLE
        self.input = _widget_for(self.value_schema, example)
        self.is_json = isinstance(self.input, ipywidgets.Textarea)
        self.none: ipywidgets.Checkbox | None = None
        if self.optional:
            # Absent is the natural default of an optional input, unless an example says otherwise.
            self.none = ipywidgets.Checkbox(
                value=example is None or example is _NO_EXAMPLE,
                description="none",
                indent=False,
                layout=ipywidgets.Layout(width="auto"),
            )
            self.none.observe(self._none_changed, names="value")
            self.input.disabled = self.none.value
        self.message = ipywidgets.HTML(value="")
        described = schema.get("description")
        label = f"<b>{html.escape(name)}</b>"
        if type_text:
            label += f" <code>{html.escape(type_text)}</code>"
        if isinstance(described, str) and described:
            label += f" <span style='color:#616161'>{html.escape(described)}</span>"
        self.label = ipywidgets.HTML(value=label)
        if self.is_json:
            self.input.observe(self._json_changed, names="value")
        # Unticked, the input is left for a later resume: a multi-stage suspension.
        self.include = ipywidgets.Checkbox(
            value=True,
            description="send now",
            indent=False,
            layout=ipywidgets.Layout(width="auto"),
        )
        row: list[Any] = [self.input] + ([self.none] if self.none is not None else [])
        if partial:
            row.append(self.include)
        self.widget = ipywidgets.VBox(
            [self.label, ipywidgets.HBox(row), self.message],
            layout=ipywidgets.Layout(margin="0 0 6px 0"),
        )

    def value(self) -> object:
        """The field's JSON value; FieldError (also shown inline) when it is not valid."""
        try:
            result = self._read()
        except FieldError as err:
            self.message.value = f"<span style='{_ERROR_STYLE}'>{html.escape(str(err))}</span>"
            raise
        self.message.value = ""
        return result

    def _read(self) -> object:
        if self.none is not None and self.none.value:
            return None
        raw = self.input.value
        if self.is_json:
            text = str(raw).strip()
            if not text:
                raise FieldError(f"{self.name}: enter a JSON value")
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise FieldError(
                    f"{self.name}: not valid JSON ({err.msg} at line {err.lineno}, "
                    f"column {err.colno})"
                ) from None
        else:
            value = raw
        problem = schema_problem(value, self.value_schema)
        if problem is not None:
            raise FieldError(f"{self.name}: {problem}")
        return value

    def _json_changed(self, _change: Mapping[str, object]) -> None:
        # Checked as you type: the message appears or clears on every change.
        with contextlib.suppress(FieldError):
            self.value()

    def _none_changed(self, change: Mapping[str, object]) -> None:
        self.input.disabled = bool(change["new"])
        if change["new"]:
            self.message.value = ""
        elif self.is_json:
            self._json_changed(change)


class _NoExample:
    pass


_NO_EXAMPLE: Any = _NoExample()


class Form:
    """A form for one suspension: fields, a Resume button, a status line and an Output."""

    def __init__(
        self,
        schema: Mapping[str, Any],
        on_submit: Submit,
        *,
        types: Mapping[str, str] | None = None,
        output: ipywidgets.Output | None = None,
        label: str = "Resume",
    ) -> None:
        properties = schema.get("properties", {})
        partial = len(properties) > 1
        self.fields: dict[str, Field] = {
            name: Field(name, sub, (types or {}).get(name), partial)
            for name, sub in properties.items()
        }
        self.on_submit = on_submit
        self.button = ipywidgets.Button(
            description=label, button_style="primary", icon="play", tooltip=label
        )
        self.button.on_click(self._clicked)
        self.status = ipywidgets.HTML(value="")
        self.output = output if output is not None else ipywidgets.Output()
        self.submitted = 0
        self.widget = ipywidgets.VBox(
            [*(f.widget for f in self.fields.values()), self.button, self.status],
            layout=ipywidgets.Layout(border="1px solid #bbdefb", padding="6px"),
        )

    def values(self) -> dict[str, object] | None:
        """The value of every field ticked "send now", or None when one of them is invalid
        (each shows why) or none is ticked."""
        values: dict[str, object] = {}
        bad: list[str] = []
        for name, field in self.fields.items():
            if not field.include.value:
                field.message.value = ""
                continue
            try:
                values[name] = field.value()
            except FieldError:
                bad.append(name)
        if bad:
            self.status.value = (
                f"<span style='{_ERROR_STYLE}'>Nothing was sent: fix "
                f"{html.escape(', '.join(bad))} first.</span>"
            )
            return None
        if not values:
            self.status.value = (
                f"<span style='{_ERROR_STYLE}'>Nothing was sent: tick "
                '"send now" for at least one input.</span>'
            )
            return None
        return values

    def set_running(self, running: bool) -> None:
        """Disable the button (and say so) while the execution runs."""
        self.button.disabled = running
        self.button.description = "Running…" if running else "Resume"

    def show_error(self, message: str) -> None:
        """An error from the engine, next to the button."""
        self.status.value = f"<span style='{_ERROR_STYLE}'>{html.escape(message)}</span>"

    def submit(self) -> bool:
        """Check the fields and, when all are valid, hand the values to ``on_submit``.

        Errors from ``on_submit`` are shown in the form, never raised into the front end's
        callback machinery (where they would only reach the log)."""
        if self.button.disabled:
            return False
        with self.output:
            values = self.values()
            if values is None:
                return False
            self.status.value = ""
            self.set_running(True)
            try:
                self.submitted += 1
                self.on_submit(values)
            except ConstellationError as err:
                self.show_error(str(err))
                return False
            except Exception as err:
                trace = html.escape("".join(traceback.format_exception(err)))
                self.status.value = (
                    f"<span style='{_ERROR_STYLE}'>{html.escape(type(err).__name__)}: "
                    f"{html.escape(str(err))}</span><details><summary>traceback</summary>"
                    f"<pre>{trace}</pre></details>"
                )
                return False
            finally:
                self.set_running(False)
        return True

    def _clicked(self, _button: object) -> None:
        self.submit()


def form_for(
    schema: Mapping[str, Any],
    on_submit: Submit,
    *,
    types: Mapping[str, str] | None = None,
    output: ipywidgets.Output | None = None,
) -> Form:
    """A form for ``schema`` (an execution's ``input_schema``); ``on_submit`` receives the
    checked values. ``types`` (input → type text) label the fields; ``output`` captures
    what the callback prints (a new Output widget when not given). Show ``form.widget``."""
    return Form(schema, on_submit, types=types, output=output)


def _optional_inner(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """T's schema when ``schema`` is ``Optional<T>`` (``anyOf`` of T and null)."""
    members = schema.get("anyOf")
    if not isinstance(members, list) or len(members) != 2:
        return None
    nulls = [m for m in members if m == {"type": "null"}]
    rest = [m for m in members if m != {"type": "null"}]
    if len(nulls) != 1 or len(rest) != 1:
        return None
    inner: Mapping[str, Any] = rest[0]
    return inner


def _widget_for(schema: Mapping[str, Any], example: object) -> Any:
    kind = schema.get("type")
    given = example is not _NO_EXAMPLE and example is not None
    layout = ipywidgets.Layout(width="24em")
    if kind == "string":
        return ipywidgets.Text(value=str(example) if given else "", layout=layout)
    if kind == "integer":
        return ipywidgets.IntText(value=int(example) if given else 0, layout=layout)  # type: ignore[call-overload]
    if kind == "number":
        return ipywidgets.FloatText(value=float(example) if given else 0.0, layout=layout)  # type: ignore[arg-type]
    if kind == "boolean":
        return ipywidgets.Checkbox(value=bool(example) if given else False, indent=False)
    text = json.dumps(example, ensure_ascii=False) if given else ""
    return ipywidgets.Textarea(
        value=text,
        placeholder=_placeholder(schema),
        layout=ipywidgets.Layout(width="32em", height="5em"),
    )


def _placeholder(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if kind == "array":
        return "JSON array, e.g. []"
    if kind == "object":
        return "JSON object, e.g. {}"
    return "a JSON value"


def schema_problem(value: object, schema: Mapping[str, Any], path: str = "") -> str | None:
    """Why ``value`` does not fit ``schema`` (the subset of JSON Schema the engine writes
    for input types), or None when it fits."""
    where = f"at {path}: " if path else ""
    members = schema.get("anyOf")
    if isinstance(members, list):
        problems = [schema_problem(value, m, path) for m in members]
        if any(p is None for p in problems):
            return None
        expected = " or ".join(_describe_schema(m) for m in members)
        return f"{where}expected {expected}, got {_describe(value)}"
    if "not" in schema:
        return f"{where}no value is allowed here"
    kind = schema.get("type")
    ok = {
        "string": isinstance(value, str),
        "integer": (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and value.is_integer()),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }.get(str(kind), True)
    if not ok:
        return f"{where}expected {_describe_schema(schema)}, got {_describe(value)}"
    if kind == "integer" and not _INT_MIN <= int(value) <= _INT_MAX:  # type: ignore[call-overload]
        return f"{where}integer out of the 64-bit range"
    if kind == "number" and not math.isfinite(float(value)):  # type: ignore[arg-type]
        return f"{where}the number must be finite"
    if isinstance(value, list):
        return _array_problem(value, schema, path)
    if isinstance(value, dict):
        return _object_problem(value, schema, path)
    return None


def _array_problem(value: list[object], schema: Mapping[str, Any], path: str) -> str | None:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        if len(value) != len(prefix):
            return f"{f'at {path}: ' if path else ''}expected {len(prefix)} items, got {len(value)}"
        for i, (item, sub) in enumerate(zip(value, prefix, strict=True)):
            problem = schema_problem(item, sub, f"{path}[{i}]")
            if problem is not None:
                return problem
        return None
    items = schema.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(value):
            problem = schema_problem(item, items, f"{path}[{i}]")
            if problem is not None:
                return problem
    return None


def _object_problem(value: dict[str, object], schema: Mapping[str, Any], path: str) -> str | None:
    where = f"at {path}: " if path else ""
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            return f"{where}missing field {', '.join(repr(k) for k in missing)}"
        for key, item in value.items():
            sub = properties.get(key)
            if sub is None:
                if schema.get("additionalProperties") is False:
                    known = ", ".join(repr(k) for k in properties)
                    return f"{where}unknown field {key!r} (the fields are {known})"
                continue
            problem = schema_problem(item, sub, f"{path}.{key}")
            if problem is not None:
                return problem
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        for key, item in value.items():
            problem = schema_problem(item, extra, f"{path}[{json.dumps(key)}]")
            if problem is not None:
                return problem
    return None


def _describe_schema(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"an array of {_describe_schema(schema['items'])}"
    names = {
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "null": "null",
        "array": "an array",
        "object": "an object",
    }
    if isinstance(schema.get("anyOf"), list):
        return " or ".join(_describe_schema(m) for m in schema["anyOf"])
    return names.get(str(kind), "a value")


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 32 else value[:29] + "…"
        return f"the string {json.dumps(shown)}"
    if isinstance(value, list):
        return f"an array of {len(value)}"
    return "an object"


__all__ = ["Field", "FieldError", "Form", "form_for", "schema_problem"]
