"""Three ``selector serve`` replicas on one PostgreSQL log, with the default learning
policy: load sent round-robin (feedback to another replica than the one that decided),
one replica killed with ``kill -9`` mid-run and restarted; then everything acknowledged
is stored once, duplicates and conflicts are settled across replicas, every replica's
online state equals a replay of the log (a fourth one started afterwards too), a circuit
opened through one replica is open on all, one replica only probes it, and a stopped
database makes every replica unready and acknowledge nothing until it is back."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from selector.online.state import body_of
from selector.store import FeedbackEvent
from tests.conftest import ROOT, Server
from tests.postgres import Postgres, postgres_bin

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.integration

TOKEN = "replicas-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
LOAD = ["gpt-5-mini", "gpt-5"]  # the load's candidates
CHEAP, DEAR = "gemini-2.5-flash-lite", "claude-opus-4.1"  # the circuit's
BOUND_S = 5.0  # the stated bound is 1 s (a notification, else one poll): with margin


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> float:
    """Seconds until ``check()`` holds (fails the test after ``timeout_s``)."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - t0


class Cluster:
    """The PostgreSQL server, its log's URL and the replicas serving it."""

    def __init__(self, pg: Postgres, folder: Path) -> None:
        self.pg = pg
        self.url = pg.new_database()
        self.folder = folder
        self.replicas: list[Server] = []

    def env(self, i: int) -> dict[str, str]:
        return {
            "SELECTOR_DATABASE_URL": self.url,
            "SELECTOR_ADMIN_TOKEN": TOKEN,
            "SELECTOR_REPLICA_ID": f"r{i}",
            "SELECTOR_BANDIT_SAVE_EVERY_S": "1",
            "SELECTOR_BREAKER_MIN_SAMPLES": "5",
            "SELECTOR_BREAKER_COOLDOWN_S": "3",
            "SELECTOR_LOG_LEVEL": "info",
        }

    def start(self, i: int) -> Server:
        server = Server(self.folder / f"r{i}.db", self.env(i)).start()
        if i < len(self.replicas):
            self.replicas[i] = server
        else:
            self.replicas.append(server)
        return server

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql, args).fetchall())

    def online(self, server: Server) -> dict[str, Any]:
        r = httpx.get(f"{server.url}/v1/admin/online", headers=ADMIN, timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def circuit(self, server: Server, model: str) -> str:
        models = httpx.get(f"{server.url}/v1/models", timeout=10).json()["models"]
        return str(next(m for m in models if m["name"] == model)["live"]["circuit"])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    found = postgres_bin()
    if found is None:
        pytest.skip("PostgreSQL's server is not installed and cannot be (not root)")
    pg = Postgres(found).start()  # a server of its own: this test stops it
    pg.wait_ready()
    c = Cluster(pg, tmp_path)
    try:
        yield c
    finally:
        for s in c.replicas:
            s.stop()
        pg.stop()
        pg.remove()


class Load:
    """Round-robin traffic: each turn decided by replica i, its feedback sent to i + 1;
    what was acknowledged is recorded (a dead replica acknowledges nothing)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.decisions: set[str] = set()
        self.events: set[str] = set()
        self.lock = threading.Lock()

    def turn(self, i: int, client: httpx.Client) -> None:
        servers = self.cluster.replicas[:3]
        decider, reporter = servers[i % 3], servers[(i + 1) % 3]
        body = {"conversation_id": f"c{i}", "turns": 1 + i % 9, "candidates": LOAD,
                "intent": ["card_arrival", "transaction_charged_twice"][i % 2]}  # fmt: skip
        try:
            r = client.post(f"{decider.url}/v1/route", json=body)
        except httpx.HTTPError:
            return
        if r.status_code != 200:
            return
        did = r.json()["decision_id"]
        with self.lock:
            self.decisions.add(did)
        fields = {"latency_ms": float(200 + i % 700), "resolved": i % 3 != 0}
        try:
            f = client.post(f"{reporter.url}/v1/feedback", json={"decision_id": did, **fields})
        except httpx.HTTPError:
            return
        if f.status_code == 202:
            with self.lock:
                self.events.add(FeedbackEvent(did, fields).event_id)

    def until(self, stop: threading.Event, first: int, workers: int = 2) -> list[threading.Thread]:
        """Turns ``first``, ``first + 1``, … on ``workers`` threads until ``stop`` is set
        (the threads, started)."""

        def work(k: int) -> None:
            with httpx.Client(timeout=10) as client:
                i = first + k
                while not stop.is_set():
                    self.turn(i, client)
                    i += workers
                    time.sleep(0.01)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
        for t in threads:
            t.start()
        return threads

    def run(self, turns: range, workers: int = 4) -> None:
        def work(k: int) -> None:
            with httpx.Client(timeout=10) as client:
                for i in turns[k::workers]:
                    self.turn(i, client)

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, range(workers)))


def check_stored_once(cluster: Cluster, load: Load) -> None:
    decisions = {r[0] for r in cluster.rows("SELECT decision_id FROM decisions")}
    events = cluster.rows("SELECT event_id FROM feedback")
    assert load.decisions <= decisions  # every acknowledged decision is stored
    assert load.events <= {r[0] for r in events}  # and every acknowledged event
    assert len(events) == len({r[0] for r in events})  # each once


def check_duplicates_and_conflicts(cluster: Cluster) -> None:
    first = cluster.replicas[0]
    body = {"conversation_id": "dup", "turns": 2, "candidates": LOAD}
    did = httpx.post(f"{first.url}/v1/route", json=body).json()["decision_id"]
    event = {"decision_id": did, "latency_ms": 321.0, "resolved": True}

    def send(k: int) -> httpx.Response:
        return httpx.post(f"{cluster.replicas[k % 3].url}/v1/feedback", json=event, timeout=10)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(send, range(50)))
    assert {a.status_code for a in answers} == {202}
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    eid = FeedbackEvent(did, {"latency_ms": 321.0, "resolved": True}).event_id
    assert cluster.rows("SELECT count(*) FROM feedback WHERE event_id = %s", eid) == [(1,)]
    for server in cluster.replicas[:3]:  # a different outcome: refused by any replica
        other = {"decision_id": did, "resolved": False}
        assert httpx.post(f"{server.url}/v1/feedback", json=other).status_code == 409


def replay_digest(cluster: Cluster, folder: Path) -> str:
    """The digest of ``selector bandit --replay`` of the shared log's state."""
    out = folder / "replayed.json"
    done = subprocess.run(
        [sys.executable, "-m", "selector", "bandit", "--db", cluster.url, "--replay",
         "--out", str(out)],
        env={**os.environ, **cluster.replicas[0].env}, cwd=ROOT, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    state = json.loads(out.read_text())["state"]
    return hashlib.sha256(body_of(state).encode()).hexdigest()


def converged(cluster: Cluster) -> tuple[float, str]:
    """Seconds until every replica has folded the whole log into one state; its digest."""
    last = cluster.rows(
        "SELECT xid::text::bigint, seq FROM feedback ORDER BY xid DESC, seq DESC LIMIT 1"
    )

    def same() -> bool:
        states = [cluster.online(s) for s in cluster.replicas]
        return all(st["cursor"] == list(last[0]) for st in states) and (
            len({st["sha256"] for st in states}) == 1
        )

    took = wait_for(same)
    return took, cluster.online(cluster.replicas[0])["sha256"]


def test_three_replicas_share_one_log(cluster: Cluster, tmp_path: Path) -> None:
    for i in range(3):
        cluster.start(i)
    load = Load(cluster)
    load.run(range(0, 150))
    cluster.replicas[1].kill9()  # mid-run: its requests fail, the others go on
    load.run(range(150, 240))
    cluster.start(1)  # restarted: it restores the snapshot and reads the rest
    load.run(range(240, 360))
    assert len(load.decisions) >= 300

    check_stored_once(cluster, load)
    check_duplicates_and_conflicts(cluster)
    took, digest = converged(cluster)
    assert digest == replay_digest(cluster, tmp_path)
    cluster.start(3)  # a fourth replica, started afterwards
    assert converged(cluster)[1] == digest
    print(f"replicas converged {took:.2f} s after the last event")

    check_circuit_is_shared(cluster)
    check_database_outage(cluster, tmp_path)


def route_cheap(server: Server) -> httpx.Response:
    body = {
        "conversation_id": "circuit",
        "turns": 1,
        "candidates": [CHEAP, DEAR],
        "cost_weight": 1000,
    }
    return httpx.post(f"{server.url}/v1/route", json=body, timeout=10)


def check_circuit_is_shared(cluster: Cluster) -> None:
    first, others = cluster.replicas[0], cluster.replicas[1:]
    for _ in range(6):  # failures of the cheap model, reported to one replica only
        did = route_cheap(first).json()["decision_id"]
        event = {"decision_id": did, "model": CHEAP, "error": "timeout", "latency_ms": 50.0}
        assert httpx.post(f"{first.url}/v1/feedback", json=event).status_code == 202
    assert cluster.circuit(first, CHEAP) == "open"
    took = wait_for(lambda: all(cluster.circuit(s, CHEAP) == "open" for s in others))
    assert took < BOUND_S
    print(f"circuit open on every replica {took:.2f} s after it opened on one")

    # the cool-down (3 s): every replica's circuit is half-open
    wait_for(lambda: all(cluster.circuit(s, CHEAP) == "half_open" for s in cluster.replicas))
    decided = [route_cheap(cluster.replicas[i % 4]).json() for i in range(40)]
    probes = [d for d in decided if d["model"] == CHEAP]
    assert len(probes) == 1, [d["model"] for d in decided]  # one replica probes
    probe = {"decision_id": probes[0]["decision_id"], "latency_ms": 80.0}
    assert httpx.post(f"{others[1].url}/v1/feedback", json=probe).status_code == 202
    took = wait_for(lambda: all(cluster.circuit(s, CHEAP) == "closed" for s in cluster.replicas))
    assert took < BOUND_S


def check_database_outage(cluster: Cluster, folder: Path) -> None:
    """The database stopped as by a crash and started again, under load: the replicas
    refuse meanwhile, then serve, learn and share again without a restart, and converge
    on a replay of the log."""
    load, stop = Load(cluster), threading.Event()
    threads = load.until(stop, 10_000)
    wait_for(lambda: len(load.events) >= 20)
    cluster.pg.stop("immediate")

    def unready() -> bool:
        return all(httpx.get(f"{s.url}/readyz").status_code == 503 for s in cluster.replicas)

    took = wait_for(unready)
    assert took < BOUND_S
    print(f"every replica unready {took:.2f} s after the database stopped")
    for s in cluster.replicas:  # nothing is acknowledged meanwhile
        r = httpx.post(
            f"{s.url}/v1/route", json={"conversation_id": "down", "turns": 1}, timeout=30
        )
        assert r.status_code == 503, r.text

    def learner_says_so(server: Server) -> bool:
        degraded = httpx.get(f"{server.url}/readyz").json()["degraded"]
        return any(p["part"] == "online_learner" for p in degraded)

    wait_for(lambda: all(learner_says_so(s) for s in cluster.replicas))
    cluster.pg.start_again()
    t0 = time.monotonic()

    def ready() -> bool:
        return all(httpx.get(f"{s.url}/readyz").status_code == 200 for s in cluster.replicas)

    print(f"every replica ready {wait_for(ready):.2f} s after the database started again")
    before = len(load.events)
    wait_for(lambda: len(load.events) >= before + 60)  # the load is served again
    stop.set()
    for t in threads:
        t.join()
    for s in cluster.replicas:  # the replicas resume without a restart
        assert (
            httpx.post(f"{s.url}/v1/route", json={"conversation_id": "up", "turns": 1}).status_code
            == 200
        )
    assert cluster.rows("SELECT count(*) FROM decisions WHERE conversation_id = 'down'") == [(0,)]
    check_stored_once(cluster, load)
    took, digest = converged(cluster)  # every learner reads again, on a new connection
    print(f"replicas converged {time.monotonic() - t0:.2f} s after the database started again")
    assert digest == replay_digest(cluster, folder)
    assert not any(learner_says_so(s) for s in cluster.replicas)
