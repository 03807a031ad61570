"""What was acknowledged survives a restart and a kill -9."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.conftest import Server

ROUTE = {"conversation_id": "durable", "turns": 4, "intent": "card_arrival"}


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_route_feedback_restart_and_the_data_is_still_there(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    first = make_server(db)
    with httpx.Client(base_url=first.url) as c:
        did = c.post("/v1/route", json=ROUTE).json()["decision_id"]
        assert (
            c.post("/v1/feedback", json={"decision_id": did, "latency_ms": 640}).status_code == 202
        )
    first.stop()

    second = make_server(db)
    with httpx.Client(base_url=second.url) as c:
        # the decision is still known: its outcome joins it, its call result is a duplicate
        resend = c.post("/v1/feedback", json={"decision_id": did, "latency_ms": 640})
        assert resend.status_code == 202
        assert resend.json()["duplicate"] is True
        outcome = c.post("/v1/feedback", json={"decision_id": did, "resolved": True})
        assert outcome.status_code == 202
        assert outcome.json()["duplicate"] is False
        # the latency tracker was warmed from the log
        models = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        decided = rows(db, f"SELECT model FROM decisions WHERE decision_id = '{did}'")[0][0]
        assert models[decided]["live"]["samples"] == 1


def test_acknowledged_decisions_and_feedback_survive_kill_9(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    server = make_server(db)
    acked_decisions: set[str] = set()
    acked_events: list[tuple[str, float]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5.0) as c:
            i = 0
            while not stop.is_set() and i < 2_000:
                i += 1
                try:
                    r = c.post("/v1/route", json={**ROUTE, "conversation_id": f"w{n}-{i}"})
                    if r.status_code != 200:
                        continue
                    did = r.json()["decision_id"]
                    with lock:
                        acked_decisions.add(did)
                    latency = float(n * 10_000 + i)
                    f = c.post("/v1/feedback", json={"decision_id": did, "latency_ms": latency})
                    if f.status_code == 202:
                        with lock:
                            acked_events.append((did, latency))
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120  # a good part of the load, however slow the machine
    while len(acked_events) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)

    assert len(acked_events) > 50, "the load did not get going"
    logged = {r[0] for r in rows(db, "SELECT decision_id FROM decisions")}
    assert acked_decisions <= logged
    stored = rows(db, "SELECT decision_id, latency_ms FROM feedback")
    for event in acked_events:
        assert stored.count(event) == 1

    # and the service starts again on the same log
    again = make_server(db)
    with httpx.Client(base_url=again.url) as c:
        did, latency = acked_events[-1]
        r = c.post("/v1/feedback", json={"decision_id": did, "latency_ms": latency})
        assert r.json()["duplicate"] is True


def test_fifty_concurrent_copies_of_one_event_are_stored_once(
    client: httpx.Client, server: Server
) -> None:
    did = client.post("/v1/route", json=ROUTE).json()["decision_id"]
    event = {"decision_id": did, "latency_ms": 512.0, "resolved": True}

    def send(_: int) -> dict[str, object]:
        with httpx.Client(base_url=server.url, timeout=10.0) as c:
            r = c.post("/v1/feedback", json=event)
            assert r.status_code == 202
            body: dict[str, object] = r.json()
            return body

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(send, range(50)))
    assert sum(1 for a in answers if not a["duplicate"]) == 1
    assert rows(server.db_path, f"SELECT COUNT(*) FROM feedback WHERE decision_id = '{did}'") == [
        (1,)
    ]
