"""The poison sequence end to end, against a real server on loopback (``make poison``):
feedback that could poison learning is refused; a log that holds such rows anyway
(written straight into the database while the service is down after a kill -9) does not
stop it from starting; it learns from the rest and reports what it skipped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import ROOT, Server
from tests.selector.test_poison import damage_decision, write_outcome

ROUTE = {"conversation_id": "c", "messages": [{"role": "user", "content": "my card is late"}]}


def traffic(c: httpx.Client, n: int, start: int) -> list[str]:
    ids = []
    for i in range(start, start + n):
        did = c.post("/v1/route", json={**ROUTE, "conversation_id": f"c{i}"}).json()["decision_id"]
        assert (
            c.post("/v1/feedback", json={"decision_id": did, "latency_ms": 800.0}).status_code
            == 202
        )
        assert (
            c.post("/v1/feedback", json={"decision_id": did, "resolved": i % 3 > 0}).status_code
            == 202
        )
        ids.append(did)
    return ids


def gauge(c: httpx.Client, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", c.get("/metrics").text, re.MULTILINE)
    assert found is not None, name
    return float(found[1])


def assert_poison_refused(c: httpx.Client, did: str) -> None:
    """Every absurd or non-finite number is a 422 naming its field."""
    for fields in (
        {"cost_usd": 1e308},
        {"latency_ms": 1e308},
        {"cost_usd": 1e4 + 1},
        {"latency_ms": -1.0},
        {"reward": 2.0},
    ):
        r = c.post("/v1/feedback", json={"decision_id": did, **fields})
        assert r.status_code == 422, (fields, r.text)
        assert [f["field"] for f in r.json()["error"]["fields"]] == list(fields)
    raw = b'{"decision_id": "%s", "cost_usd": Infinity}' % did.encode()
    r = c.post("/v1/feedback", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_poison_is_refused_and_a_poisoned_log_is_survived(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    db = tmp_path / "selector.db"
    env = {"SELECTOR_POLICY": "bandit-v1", "SELECTOR_LOG_LEVEL": "info"}
    first = make_server(db, **env)
    with httpx.Client(base_url=first.url, timeout=10) as c:
        traffic(c, 20, 0)
        victims = [
            c.post("/v1/route", json={**ROUTE, "conversation_id": f"v{i}"}).json()["decision_id"]
            for i in range(3)
        ]
        assert_poison_refused(c, victims[0])
    first.kill9()

    # what no request could send, written while the service is down
    write_outcome(db, victims[0], cost_usd=1e308)
    write_outcome(db, victims[1], latency_ms="a while")
    damage_decision(db, victims[2], "scores", b"[{")
    write_outcome(db, victims[2])

    second = make_server(db, **env)
    with httpx.Client(base_url=second.url, timeout=10) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
        assert not [d for d in ready.json()["degraded"] if d["part"] == "online_learner"]
        traffic(c, 10, 100)
        deadline = time.monotonic() + 20
        while gauge(c, "selector_online_updates") < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gauge(c, "selector_online_updates") == 30
        assert gauge(c, "selector_online_skipped_events") == 3
        assert gauge(c, "selector_online_learner_up") == 1
    second.stop()

    logged = [json.loads(line) for line in second.log_lines() if line.startswith("{")]
    skips = [e for e in logged if e["message"].startswith("online layer skipped")]
    assert sorted(e["decision_id"] for e in skips) == sorted(victims)  # once each
    shown = subprocess.run(
        [sys.executable, "-m", "selector", "bandit", "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "skipped 3" in shown.stdout
    for did in victims:
        assert did in shown.stdout
