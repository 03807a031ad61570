"""Schemathesis over the OpenAPI spec of a real server on loopback: valid requests of
every operation get no 5xx and every answer conforms to the documented schema, and
requests that break the spec are rejected with the error body. The examples are
derandomised, so the suite is reproducible."""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import Server


def test_every_operation_answers_within_its_schema(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    tested = []
    for found in schema.get_all_operations():
        operation = found.ok()

        @settings(
            max_examples=100,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url)

        try:
            fuzz()
        except Unsatisfiable:  # an operation without input
            continue
        tested.append(operation.label)
    assert {"POST /v1/route", "POST /v1/feedback", "POST /v1/admin/reload"} <= set(tested)


def test_schema_violating_requests_are_rejected_with_a_named_error(server: Server) -> None:
    """Negative mode: requests that break the spec get a 4xx with the error body,
    never a 2xx or a 5xx. A body over the size limit is rejected with 413 before it is
    read (schemathesis expects 422 for an over-long ``messages``; 413 is the answer)."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    answered: Counter[int] = Counter()
    for path in ("/v1/route", "/v1/feedback"):
        operation = schema[path]["POST"]

        @settings(
            max_examples=100,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        def fuzz(case: schemathesis.Case) -> None:
            r = case.call(base_url=server.url)
            answered[r.status_code] += 1
            assert r.status_code in (413, 415, 422), (r.status_code, r.text, case.body)
            assert r.json()["error"]["code"], r.text

        fuzz()
    assert answered[422] > 100, answered
