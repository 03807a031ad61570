"""Schemathesis over the OpenAPI spec of a real server on loopback: valid requests of
every operation get no 5xx and every answer conforms to the documented schema, and
requests that break the spec are rejected with the error body. The examples are
derandomised, so the suite is reproducible."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
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


def numeric_fields(spec: dict[str, Any], schema: str) -> dict[str, dict[str, Any]]:
    """The numeric properties of ``schema`` in an OpenAPI ``spec``, by name."""
    out = {}
    for name, prop in spec["components"]["schemas"][schema]["properties"].items():
        for branch in prop.get("anyOf", [prop]):
            if branch.get("type") in ("number", "integer"):
                out[name] = branch
    return out


def _within(value: float, f: dict[str, Any]) -> bool:
    if not math.isfinite(value):
        return False
    if f["type"] == "integer" and not float(value).is_integer():
        return False
    lo, hi = f.get("minimum"), f.get("maximum")
    xlo, xhi = f.get("exclusiveMinimum"), f.get("exclusiveMaximum")
    return (
        (lo is None or value >= lo)
        and (hi is None or value <= hi)
        and (xlo is None or value > xlo)
        and (xhi is None or value < xhi)
    )


def _edges(f: dict[str, Any]) -> list[float]:
    """Each bound, the nearest numbers either side of it, and numbers no range holds."""
    out = [0.0, -0.0, 5e-324, 1e308, -1e308, math.inf, -math.inf, math.nan]
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if key in f:
            b = float(f[key])
            out += [b, math.nextafter(b, math.inf), math.nextafter(b, -math.inf), b + 1, b - 1]
    return out


def _number(value: float) -> str:
    """JSON text for ``value``; non-finite ones as a client would send them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "1e999" if value > 0 else "-Infinity"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def test_boundary_and_non_finite_numbers_are_served_or_refused_by_their_range(
    make_server: Callable[..., Server],
) -> None:
    """Every numeric field of the API at each bound, just past it, and at ±1e308,
    infinities and NaN: within the documented range the request is served, outside it
    refused with 422 naming the field; never a 5xx. (A server of its own: the extreme
    call results it accepts open circuits.)"""
    server = make_server()
    spec = httpx.get(f"{server.url}/openapi.json").json()
    with httpx.Client(base_url=server.url, timeout=10) as c:
        bases = {
            "RouteRequest": ("/v1/route", {"conversation_id": "f", "turns": 2}, 200),
            "FeedbackRequest": (
                "/v1/feedback",
                {"decision_id": "set for each case", "error": "timeout"},
                202,
            ),
        }
        cases = [
            (schema, name, f, value)
            for schema in bases
            for name, f in numeric_fields(spec, schema).items()
            for value in _edges(f)
        ]

        for i, (schema, name, f, value) in enumerate(cases):
            path, base, ok = bases[schema]
            rest = {k: v for k, v in base.items() if k != name}
            if schema == "FeedbackRequest":  # a decision of its own: an outcome is one
                fresh = c.post("/v1/route", json={"conversation_id": f"f{i}", "turns": 1})
                rest["decision_id"] = fresh.json()["decision_id"]
            body = f'{{"{name}": {_number(value)}, {json.dumps(rest)[1:]}'
            r = c.post(path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code < 500, (name, value, r.text)
            if _within(value, f):
                assert r.status_code == ok, (name, value, r.text)
            else:
                assert r.status_code == 422, (name, value, r.text)
                named = {p["field"] for p in r.json()["error"]["fields"]}
                assert named & {name, "body"}, (name, value, r.text)
    assert {c[1] for c in cases} >= {"latency_ms", "cost_usd", "cost_weight", "max_latency_ms"}
