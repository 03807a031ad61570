"""The HTTP edge in process (the ASGI app with its lifespan): bearer tokens, content
types, request ids, error shapes, numeric ranges and what /readyz shows to whom."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.selector.api.test_fuzz import numeric_fields

ROUTE = {"conversation_id": "c-1", "messages": [{"role": "user", "content": "hello"}]}
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AppClient = Callable[..., Any]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(app_client: AppClient, scheme: str) -> None:
    c = app_client(api_token=TOKEN)
    r = c.post("/v1/route", json=ROUTE, headers={"Authorization": f"{scheme}  {TOKEN}"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("header", ["Bearer ", "Bearer", "Basic czNjcmV0", "s3cret-token", ""])
def test_credentials_that_are_not_the_token_are_refused(app_client: AppClient, header: str) -> None:
    c = app_client(api_token=TOKEN, admin_token="admin-token")
    r = c.post("/v1/route", json=ROUTE, headers={"Authorization": header})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    # what a shell sends for `Bearer $ADMIN` with the variable unset
    assert c.post("/v1/admin/reload", headers={"Authorization": header}).status_code == 401


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/redoc", "/openapi.json", "/nowhere"])
def test_with_a_token_every_endpoint_but_the_probes_needs_it(
    app_client: AppClient, path: str
) -> None:
    c = app_client(api_token=TOKEN)
    assert c.get(path).status_code == 401
    assert c.get(path, headers=AUTH).status_code == (404 if path == "/nowhere" else 200)
    assert c.get("/healthz").status_code == 200
    assert c.get("/readyz").status_code == 200


def test_an_operator_may_open_metrics_and_docs_without_the_token(app_client: AppClient) -> None:
    c = app_client(api_token=TOKEN, auth_exempt="metrics")
    assert c.get("/metrics").status_code == 200
    assert c.get("/openapi.json").status_code == 401
    c = app_client(api_token=TOKEN, auth_exempt="metrics,docs")
    for path in ("/metrics", "/docs", "/redoc", "/openapi.json"):
        assert c.get(path).status_code == 200, path
    assert c.post("/v1/route", json=ROUTE).status_code == 401


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_need_no_network(app_client: AppClient, page: str) -> None:
    """Every script, style and icon a page loads is served here (none from a CDN), and
    the token exemption covers them with the page."""
    import re

    c = app_client(api_token=TOKEN, auth_exempt="docs")
    html = c.get(page).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?'([^']+)'""", html)
    loaded = {a or b for a, b in urls} | set(re.findall(r'spec-url="([^"]+)"', html))
    assert not [u for u in loaded if "//" in u], loaded  # nothing from another host
    assert "/openapi.json" in loaded
    for url in loaded:
        r = c.get(url)
        assert r.status_code == 200, url
        assert len(r.content) > 1_000, url


def test_admin_endpoints_take_only_the_admin_token(app_client: AppClient) -> None:
    c = app_client(api_token=TOKEN, admin_token="admin-token")
    assert c.post("/v1/admin/reload", headers=AUTH).status_code == 401
    ok = c.post("/v1/admin/reload", headers={"Authorization": "bearer admin-token"})
    assert ok.status_code == 200, ok.text
    off = app_client()
    assert off.post("/v1/admin/reload", headers=AUTH).status_code == 403
    assert off.post("/v1/admin/reload").status_code == 401


def test_readyz_shows_absolute_paths_only_to_a_caller_with_the_token(
    app_client: AppClient, tmp_path: Path
) -> None:
    missing = tmp_path / "models" / "champion"
    c = app_client(api_token=TOKEN, quality_model=str(missing))
    anonymous = c.get("/readyz")
    assert anonymous.status_code == 200
    assert str(tmp_path) not in anonymous.text
    assert "champion" in anonymous.text  # the file name still says which
    assert str(missing) in c.get("/readyz", headers=AUTH).text
    assert str(tmp_path) not in c.get("/readyz").text  # nothing carried over
    # without any token configured, nobody is authenticated: paths stay hidden
    assert str(tmp_path) not in app_client(quality_model=str(missing)).get("/readyz").text


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "text/json",
    ],
)
def test_json_endpoints_refuse_other_content_types(
    app_client: AppClient, content_type: str
) -> None:
    """A web page can POST these without a CORS preflight: refusing them keeps a browser
    from deciding or reporting feedback for it."""
    c = app_client()
    body = b'{"conversation_id": "c-1", "turns": 3}'
    for path in ("/v1/route", "/v1/feedback"):
        r = c.post(path, content=body, headers={"Content-Type": content_type})
        assert r.status_code == 415, (path, r.text)
        assert r.json()["error"]["code"] == "unsupported_media_type"
        assert "application/json" in r.json()["error"]["message"]


def test_a_body_without_a_content_type_is_refused_and_json_is_accepted(
    app_client: AppClient,
) -> None:
    c = app_client()
    body = b'{"conversation_id": "c-1", "turns": 3}'
    assert c.post("/v1/route", content=body, headers={"Content-Type": ""}).status_code == 415
    for ct in ("application/json", "application/json; charset=UTF-8", "Application/JSON"):
        assert c.post("/v1/route", content=body, headers={"Content-Type": ct}).status_code == 200


def test_the_request_id_is_taken_from_the_caller_or_made(app_client: AppClient) -> None:
    c = app_client()
    assert c.get("/healthz", headers={"X-Request-ID": "gw-42.a"}).headers["x-request-id"] == (
        "gw-42.a"
    )
    made = c.get("/healthz").headers["x-request-id"]
    assert len(made) == 16
    assert made != c.get("/healthz").headers["x-request-id"]
    bad = c.get("/healthz", headers={"X-Request-ID": "x" * 200}).headers["x-request-id"]
    assert bad != "x" * 200
    assert c.post("/v1/route", json={}).headers["x-request-id"]  # errors carry it too


def test_unknown_paths_and_methods_answer_in_the_error_shape(app_client: AppClient) -> None:
    c = app_client()
    missing = c.get("/v2/route")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = c.get("/v1/route")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == {
        "code": "method_not_allowed",
        "message": "GET is not allowed on /v1/route: use POST",
    }
    assert wrong.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (
            b'{"conversation_id": "c", "messages": [{"role": "user", "content": "\\ud800"}]}',
            "body",
            "lone UTF-16 surrogate",
        ),
        (
            b'{"conversation_id": "c", "messages": [{"role": "user", "content": "\\udc00x"}]}',
            "body",
            "lone UTF-16 surrogate",
        ),
        (b'{"conversation_id": "c", "turns": 2, "intent": "\xff"}', "body", "not valid UTF-8"),
        (b"", "body", "has no body"),
        (b'{"conversation_id": "c", "messages": []}', "messages", "is empty"),
    ],
)
def test_bad_bodies_get_messages_that_say_what_is_wrong(
    app_client: AppClient, body: bytes, field: str, says: str
) -> None:
    c = app_client()
    r = c.post("/v1/route", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    problem = r.json()["error"]["fields"][0]
    assert problem["field"] == field
    assert says in problem["problem"]


def test_every_number_of_the_api_has_a_finite_documented_range(app_client: AppClient) -> None:
    """Every numeric request field publishes both bounds; just past either, an
    infinity, NaN and 1e308 are each refused with 422 naming the field."""
    c = app_client()
    spec = c.get("/openapi.json").json()
    decision = c.post("/v1/route", json=ROUTE).json()["decision_id"]
    cases = {
        "RouteRequest": ("/v1/route", {"conversation_id": "c", "turns": 2}),
        "FeedbackRequest": ("/v1/feedback", {"decision_id": decision, "latency_ms": 5}),
    }
    checked = []
    for schema, (path, base) in cases.items():
        fields = numeric_fields(spec, schema)
        assert fields, schema
        for name, f in fields.items():
            low = f.get("minimum", f.get("exclusiveMinimum"))
            high = f.get("maximum", f.get("exclusiveMaximum"))
            assert low is not None, (schema, name, f)
            assert high is not None, (schema, name, f)
            raw = [b"1e308", b"-1e308", b"Infinity", b"-Infinity", b"NaN", b"1e400"]
            raw += [repr(high * 1.5 + 1).encode(), repr(low - 1).encode()]
            rest = _json({k: v for k, v in base.items() if k != name})
            for value in raw:
                body = b'{"' + name.encode() + b'": ' + value + b", " + rest[1:]
                r = c.post(path, content=body, headers={"Content-Type": "application/json"})
                assert r.status_code == 422, (path, name, value, r.text)
                fields_named = [p["field"] for p in r.json()["error"]["fields"]]
                assert name in fields_named or "body" in fields_named, (name, value, r.text)
            checked.append(name)
    assert {"latency_ms", "cost_usd", "max_latency_ms", "cost_weight", "turns"} <= set(checked)


def _json(value: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(value)


def test_every_conversation_id_in_the_api_publishes_its_length(app_client: AppClient) -> None:
    """Requests and answers alike: a conversation id is 1 to 256 characters."""
    spec = app_client().get("/openapi.json").json()
    found = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "conversation_id" and isinstance(value, dict) and value.get("anyOf"):
                    value = next(v for v in value["anyOf"] if v.get("type") == "string")
                string = isinstance(value, dict) and value.get("type") == "string"
                if key == "conversation_id" and string:
                    found.append((where, value.get("minLength"), value.get("maxLength")))
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    walk(spec["components"]["schemas"], "")
    names = {w.split("/")[1] for w, _, _ in found}
    assert {"RouteRequest", "FeedbackRequest", "ConversationOutcomeAccepted"} <= names
    assert all((lo, hi) == (1, 256) for _, lo, hi in found), found


def test_an_unexpected_failure_in_a_hot_route_is_a_500_in_the_error_shape(
    app_client: AppClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The hot routes skip FastAPI's stack: an exception no handler expects still ends in
    the app's 500 (logged with its traceback, the request id on the answer), and the
    next request is served."""
    c = app_client()
    service = c.app.state.service

    def broken(*_a: Any, **_k: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(service, "decide", broken)
    r = c.post("/v1/route", json=ROUTE, headers={"X-Request-ID": "req-hot-1"})
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert r.headers["x-request-id"] == "req-hot-1"
    assert any("ZeroDivisionError" in (rec.exc_text or "") for rec in caplog.records)
    monkeypatch.undo()
    assert c.post("/v1/route", json=ROUTE).status_code == 200


def test_both_lanes_pass_the_edge_and_are_logged(
    app_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    c = app_client(api_token=TOKEN)
    caplog.set_level("INFO", logger="selector.access")
    assert c.post("/v1/route", json=ROUTE).status_code == 401  # the hot lane
    assert c.get("/v1/models").status_code == 401  # FastAPI's
    assert c.post("/v1/route", json=ROUTE, headers=AUTH).status_code == 200
    assert c.get("/v1/models", headers=AUTH).status_code == 200
    lines = [(r.path, r.status) for r in caplog.records if r.name == "selector.access"]  # type: ignore[attr-defined]
    assert lines == [
        ("/v1/route", 401),
        ("/v1/models", 401),
        ("/v1/route", 200),
        ("/v1/models", 200),
    ]
