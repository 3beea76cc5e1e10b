"""The contract: schemathesis against ``/openapi.json`` of a live service (reliability.md 22).

A real ``constellation serve`` subprocess on loopback, with an admin API key, serving the
example pipelines. Every operation of the document is called with generated requests and
each response is checked: never a server error, a documented status code, a documented
content type and headers, a body that matches the documented schema. A smoke run by default;
at least 100 examples per operation in the long run (``scripts/test-long
tests/test_server_contract.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_process import REPO, ServiceProcess, json_service

KEY = "contract-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SMOKE_EXAMPLES = 5
LONG_EXAMPLES = 100


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder: Path = tmp_path_factory.mktemp("contract")
    process = json_service(
        folder,
        "--modules", str(REPO / "examples" / "modules.py"),
        "--pipelines", str(REPO / "examples"),
        env={"CONSTELLATION_API_KEYS": f"{KEY}:admin"},
    )  # fmt: skip
    try:
        process.wait_listening()
        yield process
    finally:
        assert process.stop() == 0


@pytest.fixture(scope="module")
def api_schema(service: ServiceProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(
        f"http://127.0.0.1:{service.port}/openapi.json", headers=AUTH, timeout=30
    )


def run_contract(schema: schemathesis.BaseSchema, examples: int) -> list[str]:
    """Every operation × {valid, invalid} generated requests; the failures, one per line.

    Driven with Hypothesis directly rather than ``@schema.parametrize()``: the lazy
    (fixture-based) loader needs a live server at collection or pytest internals that
    pytest 9 no longer has.
    """
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                derandomize=False,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)

            try:
                check()
            except Unsatisfiable:
                # No invalid request exists for an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as err:  # every operation is tried; all failures are reported
                failures.append(f"{operation.label} ({mode.value}): {err}")
    return failures


def test_contract_smoke(api_schema: schemathesis.BaseSchema, service: ServiceProcess) -> None:
    failures = run_contract(api_schema, SMOKE_EXAMPLES)
    assert failures == [], "\n\n".join(failures)
    # The requests really reached the service, and the key was accepted.
    access = [e for e in service.events() if e["logger"] == "constellation_server.access"]
    assert len(access) >= 2 * SMOKE_EXAMPLES
    assert {e["status"] for e in access} >= {200, 400, 404}


@pytest.mark.long
def test_contract_long(api_schema: schemathesis.BaseSchema) -> None:
    failures = run_contract(api_schema, LONG_EXAMPLES)
    assert failures == [], "\n\n".join(failures)
