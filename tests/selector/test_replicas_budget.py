"""Two ``selector serve`` replicas on one PostgreSQL log pace one spend budget: what one
spends counts on the other (table ``budget_spend``), so the second decides with the
budget's λ once the first has spent it, and /v1/admin/online shows the shared spend."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from selector.online.budget import BudgetConfig, BudgetPacer
from selector.store.postgres import live
from selector.store.postgres.reader import connect
from selector.store.postgres.schema import prepare
from tests.conftest import Server

pytestmark = pytest.mark.integration

TOKEN = "budget-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
YEAR = str(366 * 86_400)  # one period for the whole test
HARD = {"turns": 14, "intent": "dispute_charge", "escalation": True}


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.05)


def _budget(c: httpx.Client) -> dict[str, Any]:
    r = c.get("/v1/admin/online", headers=ADMIN)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()["budget"]["service"]
    return found


def test_replicas_pace_one_budget(postgres: Any, tmp_path: Path) -> None:
    url = postgres.new_database()

    def start(i: int) -> Server:
        env = {
            "SELECTOR_DATABASE_URL": url,
            "SELECTOR_REPLICA_ID": f"r{i}",
            "SELECTOR_ADMIN_TOKEN": TOKEN,
            "SELECTOR_BUDGET_USD": "0.02",
            "SELECTOR_BUDGET_PERIOD_S": YEAR,
        }
        return Server(tmp_path / f"r{i}.db", env).start()

    first, second = start(0), start(1)
    try:
        with (
            httpx.Client(base_url=first.url, timeout=30.0) as a,
            httpx.Client(base_url=second.url, timeout=30.0) as b,
        ):
            r = b.post("/v1/route", json={"conversation_id": "b-0", **HARD})
            assert r.status_code == 200, r.text
            base = r.json()["budget"]["cost_weight"]
            for i in range(40):  # the first replica spends the budget out
                r = a.post("/v1/route", json={"conversation_id": f"a-{i}", **HARD})
                assert r.status_code == 200, r.text
            spent_a = _budget(a)["spent_usd"]
            assert spent_a >= 0.02
            wait_for(lambda: _budget(b)["spent_usd"] >= spent_a)  # shared within a poll
            seen = _budget(b)
            assert seen["spent_here_usd"] < 0.01  # its own: one decision
            assert seen["remaining_usd"] == 0.0
            r = b.post("/v1/route", json={"conversation_id": "b-1", **HARD})
            paced = r.json()["budget"]
            assert paced["cost_weight"] > 1_000 * base  # spent out, by the other replica
    finally:
        first.stop()
        second.stop()


def test_each_replica_reads_the_others_spend_per_budget_and_period(postgres: Any) -> None:
    url = postgres.new_database()
    conn = connect(url)
    prepare(conn, "test")
    config = BudgetConfig(usd=10.0, period_s=100.0, tenants={"acme": 5.0})
    clock = [250.0]  # period 2
    pacers = [BudgetPacer(config, clock=lambda: clock[0]) for _ in range(3)]
    for i, pacer in enumerate(pacers):
        for _ in range(i + 1):  # replica i: i + 1 decisions of acme at $1 each
            pacer.commit(f"d{i}-{_}", "acme", 1.0)
    found = [live.share_spend(conn, f"r{i}", p.own()) for i, p in enumerate(pacers)]
    found[0] = live.share_spend(conn, "r0", pacers[0].own())  # after the others stored
    assert found[0] == {("", 2): (5.0, 5), ("acme", 2): (5.0, 5)}
    pacers[0].others(found[0])
    status = pacers[0].status(base=1.0)
    assert status["service"]["spent_usd"] == 6.0
    assert status["service"]["spent_here_usd"] == 1.0
    assert status["tenants"]["acme"]["remaining_usd"] == 0.0  # 6 of 5 spent together
    assert pacers[0].weight(1.0, "acme") == config.max_weight
    clock[0] = 310.0  # a new period: the others' spend of the last one no longer counts
    assert pacers[0].weight(1.0, "acme") == 1.0
    live.share_spend(conn, "r0", pacers[0].own())
    rows = conn.execute("SELECT period FROM budget_spend WHERE origin = 'r0'").fetchall()
    assert sorted({r[0] for r in rows}) == [2, 3]  # older periods than the last are dropped
    conn.close()
