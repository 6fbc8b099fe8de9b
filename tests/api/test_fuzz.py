"""Fuzz every operation of the OpenAPI schema with schemathesis: no input may cause a 5xx.

Runs against the app on the real ml-100k with a stored run and reports, so every code path
(store, live model, fold-in, leaderboards) is reachable. Schema-conforming (positive) and
schema-violating (negative) inputs are generated per operation; responses must also match
their documented status codes and schemas, and invalid input must be rejected.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import store_top10

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("POST", "/users"),
    ("PUT", "/users/{user_id}/ratings/{movie_id}"),
    ("DELETE", "/users/{user_id}/ratings/{movie_id}"),
    ("GET", "/movies"),
    ("GET", "/movies/{movie_id}"),
    ("GET", "/movies/{movie_id}/similar"),
    ("GET", "/users/{user_id}/recommendations"),
    ("GET", "/users/{user_id}/ratings"),
    ("POST", "/recommendations"),
    ("GET", "/runs"),
    ("GET", "/runs/{run_id}"),
    ("GET", "/runs/{run_id}/leaderboard"),
    ("GET", "/leaderboards"),
    ("GET", "/leaderboards/{protocol}"),
    ("GET", "/reports/{protocol}/{name}"),
]


@pytest.fixture(scope="module")
def fuzz_schema(cosine_model, home):  # type: ignore[no-untyped-def]
    from movierec.api.app import create_app

    url = f"sqlite:///{home / 'db' / 'fuzz.db'}"
    store_top10(url, cosine_model)
    app: FastAPI = create_app(home=home, model=cosine_model, db_url=url)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_is_fuzzed(fuzz_schema) -> None:  # type: ignore[no-untyped-def]
    labels = {r.ok().label for r in fuzz_schema.get_all_operations()}
    assert labels == {f"{m} {p}" for m, p in OPERATIONS}


NO_INPUT = {
    "/health",
    "/ready",
    "/metrics",
    "/users",
    "/runs",
    "/leaderboards",
}  # nothing to make invalid
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (mode is GenerationMode.NEGATIVE and path in NO_INPUT)
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_input_causes_a_server_error(fuzz_schema, method, path, mode) -> None:  # type: ignore[no-untyped-def]
    operation = fuzz_schema[path][method]
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    def run(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(checks=checks)

    run()
