"""Publishing a notebook pipeline to the Constellation service (``POST /compile``).

The source is compiled locally first, so mistakes show with the same caret panel as in the
cell. Then it goes to the service; its answer (hash, name, version) or its JSON error is
returned or raised as a :class:`PublishError` whose text reads like a local one.

The service started by ``%constellation serve`` runs on the kernel's own event loop; a blocking
HTTP request from the kernel thread to it would wait for a loop that cannot run until the
request returns, a deadlock. Publishing to that URL therefore goes straight to the engine the
service shares with the notebook (``engine.compile(source, name=...)`` is exactly what its
``/compile`` handler does), and any other URL is called over HTTP.
"""

from __future__ import annotations

import html
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constellation import CompileError, Diagnostic, Engine, Source
from constellation.errors import Severity
from constellation_jupyter.render import diagnostics_panel

if TYPE_CHECKING:
    from constellation_jupyter.serving import Service

#: Seconds to wait for the service's answer.
TIMEOUT = 30.0


class PublishError(Exception):
    """The service refused the pipeline or could not be reached; the text says which and why."""


@dataclass(frozen=True, slots=True)
class Published:
    """What the service answered: the pipeline's hash and, for a named one, its version."""

    server: str
    structural_hash: str
    name: str | None
    version: int | None
    warnings: tuple[str, ...] = ()
    #: True when published through the in-kernel service's engine (no HTTP request).
    in_kernel: bool = False

    def __str__(self) -> str:
        what = f"{self.name} v{self.version}" if self.name else "pipeline"
        where = f"{self.server} (in this kernel)" if self.in_kernel else self.server
        lines = [f"Published {what} to {where}", f"  sha256:{self.structural_hash}"]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        what = (
            f"<b>{html.escape(self.name)}</b> version {self.version}"
            if self.name
            else "the pipeline"
        )
        where = html.escape(self.server) + (" (in this kernel)" if self.in_kernel else "")
        warnings = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        return (
            f"<p>Published {what} to <code>{where}</code><br>"
            f"<code>sha256:{self.structural_hash}</code></p>"
            + (f"<ul>{warnings}</ul>" if warnings else "")
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def publish(
    source: str,
    *,
    name: str | None,
    server: str,
    engine: Engine,
    token: str | None = None,
    service: Service | None = None,
    label: str = "cell",
    first_line: int = 1,
) -> Published:
    """Compile ``source`` locally (CompileError), then publish it to ``server``.

    ``first_line`` is the line of the cell the source starts on, so that local and remote
    diagnostics both count lines like the cell does.
    """
    local = Source("\n" * (first_line - 1) + source, name=label)
    engine.compile(local)
    server = server.rstrip("/")
    if service is not None and service.shares_loop and service.serves(server):
        pipeline = engine.compile(local, name=name)
        version = None
        if name is not None:
            version = next(v.version for v in engine.store.name_versions(name) if v.active)
        return Published(server, pipeline.structural_hash, name, version, in_kernel=True)
    body: dict[str, object] = {"source": source}
    if name is not None:
        body["name"] = name
    answer = _post(f"{server}/compile", body, token, local, first_line)
    version = answer.get("version")
    warnings = answer.get("warnings")
    return Published(
        server=server,
        structural_hash=str(answer.get("structuralHash", "")),
        name=name,
        version=version if isinstance(version, int) else None,
        warnings=tuple(_warning_text(w) for w in warnings) if isinstance(warnings, list) else (),
    )


def _post(
    url: str, body: dict[str, object], token: str | None, local: Source, first_line: int
) -> dict[str, Any]:
    token = token or os.environ.get("CONSTELLATION_TOKEN") or None
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return _json_object(response.read(), url)
    except urllib.error.HTTPError as err:
        with err:
            raise PublishError(_refusal(url, err.code, err.read(), local, first_line)) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise PublishError(
            f"Cannot reach the Constellation service at {url} ({reason}). Start one with "
            "'%constellation serve' (in this kernel) or 'constellation serve', or pass "
            "--server URL (or set CONSTELLATION_SERVER)"
        ) from None


def _json_object(data: bytes, url: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise PublishError(
            f"The service at {url} answered with something that is not JSON: "
            f"{data[:200].decode('utf-8', 'replace')!r}; is the URL a Constellation service?"
        ) from None
    if not isinstance(value, dict):
        raise PublishError(f"The service at {url} answered {value!r}, not a JSON object")
    return value


def _refusal(url: str, status: int, data: bytes, local: Source, first_line: int) -> str:
    """The service's JSON error as text: code, message, request id, and a caret panel."""
    try:
        error = _json_object(data, url)
    except PublishError:
        return (
            f"The service at {url} answered HTTP {status}: {data[:500].decode('utf-8', 'replace')}"
        )
    code = error.get("error", f"HTTP {status}")
    message = error.get("message", "")
    request_id = error.get("requestId")
    head = f"The service at {url} refused the pipeline: {code} (HTTP {status}"
    head += f", request {request_id})" if request_id else ")"
    lines = [head, str(message)]
    if status == 401 or status == 403:
        lines.append(
            "Pass an API key with the compile (admin) role: --token KEY or CONSTELLATION_TOKEN"
        )
    diagnostics = error.get("diagnostics")
    if isinstance(diagnostics, list) and diagnostics:
        found = [_diagnostic(d, first_line) for d in diagnostics if isinstance(d, dict)]
        lines.append(diagnostics_panel(CompileError(found, local))[1])
    return "\n".join(lines)


def _diagnostic(data: dict[str, Any], first_line: int) -> Diagnostic:
    """A diagnostic of the service, its lines shifted to count like the cell's."""
    shift = first_line - 1
    line = int(data.get("line", 0))
    end_line = int(data.get("endLine", line))
    severity: Severity = "warning" if data.get("severity") == "warning" else "error"
    return Diagnostic(
        code=str(data.get("code", "E???")),
        severity=severity,
        message=str(data.get("message", "")),
        line=line + shift if line > 0 else line,
        column=int(data.get("column", 0)),
        end_line=end_line + shift if end_line > 0 else end_line,
        end_column=int(data.get("endColumn", 0)),
        hint=data.get("hint") if isinstance(data.get("hint"), str) else None,
    )


def _warning_text(warning: object) -> str:
    if isinstance(warning, dict):
        return str(warning.get("message", warning))
    return str(warning)
