"""Forms for suspended executions, driven through the widgets' own API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets
import pytest
from constellation_jupyter.forms import FieldError, form_for, schema_problem

import constellation as cst


def schema_of(**types: str) -> Mapping[str, Any]:
    """The input schema the engine gives a suspended execution waiting for these inputs."""
    engine = cst.Engine(registry=cst.Registry())
    try:
        source = "".join(f"in {name}: {t}\nout {name}\n" for name, t in types.items())
        execution = engine.run(source)
    finally:
        engine.close()
    assert execution.status == "suspended"
    return execution.input_schema


def test_widgets_follow_the_schema() -> None:
    schema = schema_of(
        s="String", i="Int", f="Float", b="Boolean", o="Optional<Int>", xs="List<String>"
    )
    form = form_for(schema, lambda values: None)
    assert isinstance(form.fields["s"].input, ipywidgets.Text)
    assert isinstance(form.fields["i"].input, ipywidgets.IntText)
    assert isinstance(form.fields["f"].input, ipywidgets.FloatText)
    assert isinstance(form.fields["b"].input, ipywidgets.Checkbox)
    assert isinstance(form.fields["o"].input, ipywidgets.IntText)
    assert form.fields["o"].none is not None
    assert form.fields["s"].none is None
    assert isinstance(form.fields["xs"].input, ipywidgets.Textarea)
    assert form.widget.children[-2] is form.button


def test_doc_labels_and_examples_prefill() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Who <to> greet", "examples": ["Ada"]},
            "tags": {"type": "array", "items": {"type": "string"}, "examples": [["a", "b"]]},
            "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "examples": [3]},
        },
        "required": ["name", "tags", "limit"],
    }
    form = form_for(schema, lambda values: None, types={"name": "String"})
    assert "Who &lt;to&gt; greet" in form.fields["name"].label.value
    assert "<code>String</code>" in form.fields["name"].label.value
    assert form.fields["name"].input.value == "Ada"
    assert form.fields["tags"].input.value == '["a", "b"]'
    limit = form.fields["limit"]
    assert limit.none is not None
    assert limit.none.value is False
    assert limit.input.value == 3
    assert form.values() == {"name": "Ada", "tags": ["a", "b"], "limit": 3}


def test_optional_none_toggle_sends_null_and_disables_the_input() -> None:
    form = form_for(schema_of(o="Optional<String>"), lambda values: None)
    field = form.fields["o"]
    assert field.none is not None
    assert field.none.value is True  # no example: absent by default
    assert field.input.disabled
    assert form.values() == {"o": None}
    field.none.value = False
    assert not field.input.disabled
    field.input.value = "x"
    assert form.values() == {"o": "x"}


def test_json_fields_are_checked_as_you_type() -> None:
    form = form_for(schema_of(xs="List<Int>"), lambda values: None)
    field = form.fields["xs"]
    field.input.value = "[1, 2"
    assert "not valid JSON" in field.message.value
    field.input.value = '[1, "two"]'
    assert "at [1]: expected an integer, got the string &quot;two&quot;" in field.message.value
    field.input.value = "[1, 2]"
    assert field.message.value == ""


def test_bad_values_show_inline_and_nothing_is_submitted() -> None:
    sent: list[dict[str, object]] = []
    form = form_for(schema_of(r="{a: Int, b: String}", n="Int"), sent.append)
    form.fields["r"].input.value = '{"a": 1}'
    form.button.click()
    assert sent == []
    assert "r: missing field &#x27;b&#x27;" in form.fields["r"].message.value
    assert "Nothing was sent: fix r first." in form.status.value
    form.fields["r"].input.value = '{"a": 1, "b": "x"}'
    form.fields["n"].input.value = 7
    form.button.click()
    assert sent == [{"r": {"a": 1, "b": "x"}, "n": 7}]
    assert form.status.value == ""


def test_the_button_is_disabled_while_running_and_engine_errors_show_in_the_form() -> None:
    seen: list[bool] = []
    form = form_for(schema_of(n="Int"), lambda values: None)

    def submit(values: dict[str, object]) -> None:
        seen.append(form.button.disabled)
        raise cst.InputError("Input 'n': too large <really>")

    form.on_submit = submit
    form.button.click()
    assert seen == [True]
    assert not form.button.disabled
    assert "Input &#x27;n&#x27;: too large &lt;really&gt;" in form.status.value


def test_unexpected_errors_are_shown_with_their_traceback() -> None:
    def submit(values: dict[str, object]) -> None:
        raise RuntimeError("module crashed")

    form = form_for(schema_of(n="Int"), submit)
    assert form.submit() is False
    assert "RuntimeError: module crashed" in form.status.value
    assert "<details><summary>traceback</summary>" in form.status.value


def test_callback_output_goes_to_the_given_output_widget() -> None:
    output = ipywidgets.Output()
    form = form_for(schema_of(n="Int"), lambda values: None, output=output)
    assert form.output is output


@pytest.mark.parametrize(
    ("text", "value", "problem"),
    [
        ("Map<String, Int>", {"a": 1}, None),
        ("Map<String, Int>", {"a": "x"}, 'at ["a"]: expected an integer, got the string "x"'),
        ("Map<Int, String>", [[1, "a"]], None),
        ("Map<Int, String>", [[1]], "at [0]: expected 2 items, got 1"),
        ("Int | String", "x", None),
        ("Int | String", True, "expected an integer or a string, got true"),
        ("{a: Int}", {"a": 1, "z": 2}, "unknown field 'z' (the fields are 'a')"),
        ("Int", 2**63, "integer out of the 64-bit range"),
        ("Int", 2.0, None),
        ("Float", 1, None),
        ("List<Optional<Int>>", [1, None], None),
    ],
)
def test_schema_problems(text: str, value: object, problem: str | None) -> None:
    schema = schema_of(x=text)["properties"]["x"]
    assert schema_problem(value, schema) == problem


def test_field_error_is_a_value_error() -> None:
    form = form_for(schema_of(xs="List<Int>"), lambda values: None)
    with pytest.raises(FieldError, match="xs: enter a JSON value"):
        form.fields["xs"].value()


def test_inputs_can_be_left_for_a_later_stage() -> None:
    sent: list[dict[str, object]] = []
    form = form_for(schema_of(b="Int", c="List<Int>"), sent.append)
    form.fields["c"].include.value = False
    form.fields["b"].input.value = 2
    form.button.click()
    assert sent == [{"b": 2}]  # c is not checked, and not sent
    form.fields["b"].include.value = False
    form.button.click()
    assert len(sent) == 1
    assert 'tick "send now" for at least one input' in form.status.value


def test_a_single_input_has_no_send_now_box() -> None:
    form = form_for(schema_of(b="Int"), lambda values: None)
    row = form.fields["b"].widget.children[1]
    assert form.fields["b"].include not in row.children
