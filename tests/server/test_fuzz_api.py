"""Schemathesis over the OpenAPI document, in process: generated requests to every operation, with a valid admin
token, must never make the server fail (5xx) nor answer outside the document (status, content type, schema)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from satchel.catalog.sql import open_sql_catalog
from satchel.catalog.tokens import TokenStore
from satchel.server.app import create_app
from satchel.server.state import ServerConfig

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("SATCHEL_FUZZ_EXAMPLES", "40"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_generated_requests_never_fail_the_server(tmp_path: Path) -> None:
    config = ServerConfig.build(tmp_path / "server")
    catalog = open_sql_catalog(config.database_url)
    _, token = TokenStore(catalog.engine).create("fuzz", "admin")
    catalog.close()
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(config))
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                  derandomize=bool(os.environ.get("CI")))  # CI: the same requests every run; locally: new ones
        def run(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # every operation is tried; the failures are reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
