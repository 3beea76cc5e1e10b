"""The notebook magics in a real IPython shell: the cell magic, the line magics, serve/publish."""

from __future__ import annotations

import asyncio
import json
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import constellation_jupyter
import pytest
from constellation_jupyter.listings import PipelineView, Table
from constellation_jupyter.magics import ConstellationMagics
from constellation_jupyter.result import Result
from constellation_jupyter.session import Session
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from constellation import Engine, Registry, StoreError, default_registry
from constellation.store import MemoryStore

MODULES = '''
import constellation as cst

@cst.module
def Summarize(text: str) -> str:
    """The first word, shouted."""
    return text.split()[0].upper()

@cst.module
def Double(n: int) -> int:
    return n * 2
'''

REVIEW = """\
in text: String
in approval: Boolean
summary = Summarize(text)
approved = summary when approval
out summary
out approved
"""


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A shell with history off and the extension loaded, in a fresh folder (its store)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONSTELLATION_SERVER", raising=False)
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell(config=config)
    before = set(default_registry.snapshot())
    shell.run_line_magic("load_ext", "constellation")
    run(shell, MODULES)
    yield shell
    constellation_jupyter.unload_ipython_extension(shell)
    for name in set(default_registry.snapshot()) - before:
        default_registry.remove(name)
    InteractiveShell.clear_instance()


def run(shell: InteractiveShell, code: str) -> Any:
    """Run a cell like the notebook does; raise what the cell raised."""
    result = shell.run_cell(textwrap.dedent(code), store_history=False)
    result.raise_error()
    return result.result


def magics(shell: InteractiveShell) -> ConstellationMagics:
    found = [
        m for m in shell.magics_manager.registry.values() if isinstance(m, ConstellationMagics)
    ]
    assert len(found) == 1
    return found[0]


def test_loading_twice_keeps_one_session(ip: InteractiveShell) -> None:
    """`%load_ext constellation_jupyter` after `constellation` registers nothing new."""
    session = magics(ip).session
    ip.run_line_magic("load_ext", "constellation_jupyter")
    assert magics(ip).session is session


def test_cell_runs_hot_and_binds_the_name(ip: InteractiveShell) -> None:
    """A named cell binds its Result under the name; -i evaluates in the notebook."""
    ip.user_ns["doc"] = "hello world"
    ip.run_cell_magic("constellation", "review -i text=doc -i approval=(1 == 1)", REVIEW)
    result = ip.user_ns["review"]
    assert isinstance(result, Result)
    assert result.status == "completed"
    assert dict(result.outputs) == {"summary": "HELLO", "approved": "HELLO"}


def test_unnamed_cell_binds_cst(ip: InteractiveShell) -> None:
    """Without a name the result is `_cst`."""
    ip.run_cell_magic("constellation", "--quiet -i n=20+1", "in n: Int\nd = Double(n)\nout d")
    assert ip.user_ns["_cst"].outputs["d"] == 42


def test_inputs_are_not_variable_expanded(ip: InteractiveShell) -> None:
    """Braces and $ in --inputs reach Python untouched (@no_var_expand)."""
    ip.user_ns.update(b="EXPANDED", c="EXPANDED")
    run(
        ip,
        """\
        %%constellation echo --quiet --inputs {"text": "a $b {c}", "approval": False}
        in text: String
        in approval: Boolean
        out text
        """,
    )
    assert ip.user_ns["echo"].outputs["text"] == "a $b {c}"


def test_bad_input_expression_is_a_usage_error(ip: InteractiveShell) -> None:
    """An -i expression that fails names the item and the Python error."""
    with pytest.raises(UsageError, match=r"-i text=nowhere: NameError: name 'nowhere'"):
        ip.run_cell_magic("constellation", "-i text=nowhere", REVIEW)
    with pytest.raises(UsageError, match=r"--inputs 3: expected a dict"):
        ip.run_cell_magic("constellation", "--inputs 3", REVIEW)


def test_compile_error_is_the_panel_with_cell_lines(ip: InteractiveShell) -> None:
    """A compile error raises UsageError whose text is the panel; line 1 is the magic line."""
    body = "# a comment\nin text: String\nshort = Summarise(text)\nout short\n"
    with pytest.raises(UsageError) as caught:
        ip.run_cell_magic("constellation", "broken", body)
    text = str(caught.value)
    assert text.startswith("1 error in pipeline broken")
    assert "error E" in text
    assert "line 4, column 9" in text
    assert " 4 | short = Summarise(text)\n   |         ^^^^^^^^^" in text
    assert "did you mean 'Summarize'?" in text


def test_compile_error_in_a_cell_has_no_traceback(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as a cell, the error is IPython's UsageError message: no stack, the cell fails."""
    result = ip.run_cell("%%constellation\nin x: Int\nout y\n", store_history=False)
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert "UsageError: 1 error in the pipeline" in err
    assert "Traceback" not in err


def test_hash_comments_and_nbval_markers_in_the_body(ip: InteractiveShell) -> None:
    """The body accepts # comments, so nbval markers can sit in a %%constellation cell."""
    run(
        ip,
        """\
        %%constellation --quiet -i n=1
        # NBVAL_IGNORE_OUTPUT
        in n: Int  # a count
        out n
        """,
    )
    assert ip.user_ns["_cst"].outputs == {"n": 1}


def test_suspended_run_resumes_by_id_prefix(ip: InteractiveShell) -> None:
    """`%constellation resume ID -i` resumes the same execution and updates the cell's Result."""
    ip.run_cell_magic("constellation", "review --quiet -i text='ship it'", REVIEW)
    review = ip.user_ns["review"]
    assert review.status == "suspended"
    assert dict(review.missing_inputs) == {"approval": "Boolean"}
    resumed = ip.run_line_magic(
        "constellation", f"resume {review.execution_id[:10]} -i approval=True"
    )
    assert resumed is review
    assert review.status == "completed"
    assert review.outputs["approved"] == "SHIP"


def test_resume_of_an_unknown_id(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="no stored execution has this id"):
        ip.run_line_magic("constellation", "resume nope -i approval=True")


def test_resume_after_a_restart_loads_from_the_store(ip: InteractiveShell) -> None:
    """A new session over the same folder (a kernel restart) resumes a suspended execution."""
    ip.run_cell_magic("constellation", "review --quiet -i text='go now'", REVIEW)
    execution_id = ip.user_ns["review"].execution_id
    constellation_jupyter.unload_ipython_extension(ip)
    fresh = ConstellationMagics(ip, Session())
    ip.register_magics(fresh)
    shown = ip.run_line_magic("constellation", "show review")  # the name, from the store
    assert shown.pipeline.structural_hash == ip.user_ns["review"].pipeline.structural_hash
    resumed = ip.run_line_magic("constellation", f"resume {execution_id} -i approval=False")
    assert resumed is not ip.user_ns["review"]
    assert resumed.status == "completed"
    assert dict(resumed.outputs) == {"summary": "GO", "approved": None}
    fresh.session.close()


def test_executions_lists_suspended_ones(ip: InteractiveShell) -> None:
    """The table shows suspended executions with what they wait for; resumed ones leave it."""
    ip.run_cell_magic("constellation", "review --quiet -i text='a b'", REVIEW)
    execution_id = ip.user_ns["review"].execution_id
    # The "resume from code" hint names the variable the cell bound.
    assert "review.resume(approval=" in ip.user_ns["review"].static_html()
    listing = ip.run_line_magic("constellation", "executions --status suspended")
    assert (execution_id, "review", "suspended", "approval") == listing.table.rows[0][:4]
    bundle = listing._repr_mimebundle_()
    assert execution_id in bundle["text/plain"]
    assert execution_id in bundle["text/html"]
    ip.user_ns["review"].resume(approval=True)
    after = ip.run_line_magic("constellation", "executions --status suspended")
    assert isinstance(after, Table)
    assert after.rows == ()
    assert str(after) == "No stored executions with status suspended"


def test_show_draws_the_dag_without_running(ip: InteractiveShell) -> None:
    ip.run_cell_magic("constellation", "review --quiet -i text='x'", REVIEW)
    view = ip.run_line_magic("constellation", "show review")
    assert isinstance(view, PipelineView)
    bundle = view._repr_mimebundle_()
    assert "<svg" in bundle["text/html"]
    assert "summary = Summarize(…): String" in bundle["text/plain"]
    with pytest.raises(UsageError, match="No pipeline named 'absent'"):
        ip.run_line_magic("constellation", "show absent")


def test_modules_lists_cell_modules_with_types(ip: InteractiveShell) -> None:
    table = ip.run_line_magic("constellation", "modules")
    rows = {row[0]: row for row in table.rows}
    assert rows["Summarize"][1:3] == ("text: String", "String")
    assert rows["Summarize"][4] == "The first word, shouted."
    assert rows["Double"][1:3] == ("n: Int", "Int")


def test_rerunning_a_module_cell_replaces_the_module(ip: InteractiveShell) -> None:
    """Redefining a module in a cell changes what the next run calls: no restart."""
    cell = "in n: Int\nd = Double(n)\nout d"
    ip.run_cell_magic("constellation", "--quiet -i n=5", cell)
    assert ip.user_ns["_cst"].outputs["d"] == 10
    run(ip, "@cst.module\ndef Double(n: int) -> int:\n    return n * 3\n")
    ip.run_cell_magic("constellation", "--quiet -i n=5", cell)
    assert ip.user_ns["_cst"].outputs["d"] == 15


def test_config_switches_the_store(ip: InteractiveShell, tmp_path: Path) -> None:
    settings = ip.run_line_magic("constellation", "config")
    assert settings.store == "./.constellation"
    assert settings.server == "http://127.0.0.1:8080"
    ip.run_line_magic("constellation", "config --store elsewhere")
    ip.run_cell_magic("constellation", "review --quiet -i text='x'", REVIEW)
    assert (tmp_path / "elsewhere").is_dir()
    ip.run_line_magic("constellation", "config --store memory --server http://example.test:9")
    session = magics(ip).session
    assert isinstance(session.engine.store, MemoryStore)
    assert str(session.settings) == ("store: memory\nserver: http://example.test:9 (from config)")


def test_unknown_subcommand(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="unknown subcommand 'frobnicate'; use one of publish"):
        ip.run_line_magic("constellation", "frobnicate")


def test_publish_needs_a_named_cell(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="no cell of this kernel defines a pipeline named 'x'"):
        ip.run_line_magic("constellation", "publish x")


def test_publish_to_nothing_listening_says_how_to_start_one(ip: InteractiveShell) -> None:
    ip.run_cell_magic("constellation", "review --quiet -i text='x'", REVIEW)
    with pytest.raises(
        UsageError, match=r"Cannot reach the Constellation service at http://127\.0\.0\.1:9/compile"
    ):
        ip.run_line_magic("constellation", "publish review --server http://127.0.0.1:9")


# --------------------------------------------------------------------------- the service


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        value: dict[str, Any] = json.loads(response.read())
        return value


def test_serve_publish_execute_stop(ip: InteractiveShell) -> None:
    """Without a running loop the service gets its own thread: publish over real HTTP."""
    ip.run_line_magic("constellation", "config --store memory")
    ip.run_cell_magic("constellation", "review --quiet -i text='hello there'", REVIEW)
    service = ip.run_line_magic("constellation", "serve --port 0")
    try:
        assert magics(ip).session.settings.server_from == "serve"
        published = ip.run_line_magic("constellation", "publish review")
        assert not published.in_kernel
        assert published.name == "review"
        assert published.version == 1
        assert published.structural_hash == ip.user_ns["review"].pipeline.structural_hash
        versions = _get(f"{service.url}/pipelines/review/versions")
        assert versions["activeVersion"] == 1
        request = urllib.request.Request(
            f"{service.url}/execute",
            data=json.dumps(
                {"ref": "review", "inputs": {"text": "cell module", "approval": True}}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["outputs"] == {"summary": "CELL", "approved": "CELL"}
        ip.run_cell_magic(
            "constellation",
            f"review --quiet --no-dag -i text='b' --publish {service.url}",
            REVIEW + "out text\n",
        )
        assert ip.user_ns["review"].show_dag is False
        assert _get(f"{service.url}/pipelines/review/versions")["activeVersion"] == 2
    finally:
        stopped = ip.run_line_magic("constellation", "stop")
    assert stopped is service
    assert not service.running
    assert magics(ip).session.settings.server == "http://127.0.0.1:8080"
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(f"{service.url}/health", timeout=2)
    with pytest.raises(UsageError, match="No service is running"):
        ip.run_line_magic("constellation", "stop")


def test_serve_on_a_running_loop_publishes_through_the_engine(ip: InteractiveShell) -> None:
    """In a kernel the service shares the running loop; publish must not block on it."""
    from tornado.httpclient import AsyncHTTPClient

    ip.run_line_magic("constellation", "config --store memory")
    ip.run_cell_magic("constellation", "review --quiet -i text='x'", REVIEW)

    async def kernel() -> dict[str, Any]:
        service = ip.run_line_magic("constellation", "serve --port 0")
        client = AsyncHTTPClient(force_instance=True)
        try:
            published = ip.run_line_magic("constellation", "publish review")
            assert published.in_kernel
            assert published.version == 1
            response = await client.fetch(f"{service.url}/pipelines/review/versions")
            return dict(json.loads(response.body))
        finally:
            client.close()
            ip.run_line_magic("constellation", "stop")
            await asyncio.sleep(0)  # let the connection-closing task run

    assert asyncio.run(kernel())["activeVersion"] == 1


def test_service_errors_show_like_local_ones(ip: InteractiveShell) -> None:
    """A service without the cell's module refuses the pipeline: its diagnostics show with
    carets and the cell's line numbers."""
    from constellation_jupyter.serving import start

    ip.run_cell_magic("constellation", "review --quiet -i text='x'", REVIEW)
    bare = Engine(Registry())
    other = start(bare, port=0)
    try:
        with pytest.raises(UsageError) as caught:
            ip.run_line_magic("constellation", f"publish review --server {other.url}")
    finally:
        other.stop()
        bare.close()
    text = str(caught.value)
    assert text.startswith(
        f"The service at {other.url}/compile refused the pipeline: CompileError (HTTP 400, request "
    )
    assert " 4 | summary = Summarize(text)" in text
    assert "^^^^^^^^^" in text


def test_form_of_a_cell_resumes_in_place(ip: InteractiveShell) -> None:
    """The form of a suspended cell: a bad JSON value shows inline and sends nothing; good
    values resume the same execution and the DAG's states change."""
    cell = "in xs: List<Int>\nin approval: Boolean\nn = list-length(xs)\ngo = n when approval\nout go\n"
    ip.run_cell_magic("constellation", "counted --quiet", cell)
    counted = ip.user_ns["counted"]
    execution_id = counted.execution_id
    form = counted.form
    assert form is not None
    before = dict(counted.states)
    form.fields["xs"].input.value = "[1, 2"
    assert "not valid JSON" in form.fields["xs"].message.value
    form.button.click()
    assert counted.status == "suspended"
    assert "Nothing was sent: fix xs first." in form.status.value
    form.fields["xs"].input.value = "[1, 2, 3]"
    form.fields["approval"].input.value = True
    form.button.click()
    assert counted.status == "completed"
    assert counted.execution_id == execution_id
    assert counted.outputs == {"go": 3}
    assert counted.states != before
    assert counted.form is None


def test_resume_names_a_result_variable(ip: InteractiveShell) -> None:
    """`resume NAME` takes the execution of the Result bound to NAME."""
    ip.run_cell_magic("constellation", "review --quiet -i text='ok then'", REVIEW)
    resumed = ip.run_line_magic("constellation", "resume review -i approval=(1 > 0)")
    assert resumed is ip.user_ns["review"]
    assert resumed.outputs == {"summary": "OK", "approved": "OK"}


def test_executions_buttons_open_the_form(ip: InteractiveShell) -> None:
    """After a restart, the Open button of a suspended row loads its Result (and form)."""
    ip.run_cell_magic("constellation", "review --quiet -i text='a b'", REVIEW)
    execution_id = ip.user_ns["review"].execution_id
    constellation_jupyter.unload_ipython_extension(ip)
    fresh = ConstellationMagics(ip, Session())
    ip.register_magics(fresh)
    try:
        listing = ip.run_line_magic("constellation", "executions")
        box = listing.widget()
        (button,) = box.children[1].children
        assert button.description == f"Open {execution_id[:8]}"
        button.click()
        opened = fresh.results[execution_id]
        assert opened.status == "suspended"
        assert opened.form is not None
    finally:
        fresh.session.close()


def test_help_of_a_subcommand(ip: InteractiveShell) -> None:
    shown = ip.run_line_magic("constellation", "publish -h")
    assert "  %constellation publish [--server URL] [--token TOKEN] name\n" in shown.text
    assert "  %%constellation [-i NAME=EXPR] [--inputs EXPR]" in (
        ConstellationMagics.constellation.__doc__ or ""
    )


def test_a_store_in_use_says_what_to_do(ip: InteractiveShell) -> None:
    """A second session on the same folder (another kernel) is refused with the way out."""
    ip.run_line_magic("constellation", "executions")  # opens ./.constellation
    other = Session()
    with pytest.raises(StoreError, match=r"config --store memory"):
        _ = other.engine
    other.close()


def test_an_input_of_the_wrong_type_is_a_usage_error(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match=r"\bn\b.*Int"):
        ip.run_cell_magic("constellation", "--quiet -i n='three'", "in n: Int\nout n")
