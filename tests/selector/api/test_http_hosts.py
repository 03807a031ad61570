"""Hosts and origins over HTTP: a web page the operator visits can reach a service on
loopback only by a name of its own (DNS rebinding) or from its own origin (a cross-site
form or fetch). The first is refused on every path, the second wherever state changes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from core.errors import ConfigError
from selector.config import load_settings
from tests.conftest import Server

pytestmark = pytest.mark.integration

ROUTE = {"conversation_id": "hosts-1", "messages": [{"role": "user", "content": "hello"}]}
FEEDBACK = {"conversation_id": "hosts-1", "resolved": True}


def post(server: Server, path: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("path", ["/v1/route", "/v1/feedback"])
@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080", "10.0.0.7"])
def test_a_name_the_service_does_not_answer_to_is_refused(
    server: Server, path: str, host: str
) -> None:
    body = ROUTE if path == "/v1/route" else FEEDBACK
    answer = post(server, path, body, Host=host)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "host_not_allowed"
    assert "SELECTOR_ALLOWED_HOSTS" in error["message"]
    # readiness too: a page must not read what the service says of itself; liveness
    # says nothing, and a probe may call the instance by its address
    probe = httpx.get(f"{server.url}/readyz", headers={"Host": host}, timeout=10)
    assert probe.status_code == 400
    assert httpx.get(f"{server.url}/healthz", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]"])
def test_loopbacks_own_names_are_served(server: Server, name: str) -> None:
    answer = post(server, "/v1/route", ROUTE, Host=f"{name}:{server.port}")
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("path", ["/v1/route", "/v1/feedback", "/v1/admin/reload"])
@pytest.mark.parametrize("origin", ["http://attacker.example", "null", "http://localhost:1"])
def test_a_page_of_another_origin_may_not_change_state(
    server: Server, path: str, origin: str
) -> None:
    answer = post(server, path, ROUTE if path == "/v1/route" else FEEDBACK, Origin=origin)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "origin_not_allowed"


def test_a_page_of_the_services_own_origin_and_any_page_reading_are_served(
    server: Server,
) -> None:
    own = f"http://127.0.0.1:{server.port}"
    assert post(server, "/v1/route", ROUTE, Origin=own).status_code == 200
    models = httpx.get(f"{server.url}/v1/models", headers={"Origin": "null"}, timeout=10)
    assert models.status_code == 200  # reading: the browser keeps the answer from the page


def test_the_operator_names_the_hosts_and_may_allow_any(
    make_server: Callable[..., Server],
) -> None:
    named = make_server(SELECTOR_ALLOWED_HOSTS="selector.internal, Router.Example")
    assert post(named, "/v1/route", ROUTE, Host="router.example").status_code == 200
    # the list replaces the loopback names
    assert post(named, "/v1/route", ROUTE).status_code == 400
    anyone = make_server(SELECTOR_ALLOWED_HOSTS="*")
    assert post(anyone, "/v1/route", ROUTE, Host="anything.example").status_code == 200


def test_the_default_follows_the_bound_interface() -> None:
    assert load_settings(host="127.0.0.1").server.host_names() == {"127.0.0.1", "localhost", "::1"}
    assert load_settings(host="::1").server.host_names() == {"127.0.0.1", "localhost", "::1"}
    beyond = load_settings(host="0.0.0.0", api_token="t0ken-for-the-test")
    assert beyond.server.host_names() is None  # any name: the token guards it
    with pytest.raises(ConfigError, match="SELECTOR_ALLOWED_HOSTS: names no host"):
        load_settings(allowed_hosts=" , ")
