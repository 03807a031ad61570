"""The service on a PostgreSQL log that stops (``pg_ctl -m immediate``, as a crash would)
and starts again, without restarting the service: while it is down, ``/readyz`` says
what cannot be read and for how long, and the learner's state age grows; afterwards the
writer, the learner, its lag monitor and the sharing of live state all work again on
new connections, and the learner's state equals a replay of the log."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from selector.online.state import body_of
from selector.service import SelectorService
from selector.wiring import build_service, new_learner
from tests.postgres import Postgres, postgres_bin
from tests.selector.online.traffic import metrics, run_traffic, settings_for

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.integration


def wait_for(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s"
        time.sleep(0.05)


@pytest.fixture
def pg() -> Iterator[Postgres]:
    found = postgres_bin()
    if found is None:
        pytest.skip("PostgreSQL's server is not installed and cannot be (not root)")
    server = Postgres(found).start()  # a server of its own: this test stops it
    server.wait_ready()
    try:
        yield server
    finally:
        with contextlib.suppress(RuntimeError):  # stopped already
            server.stop("immediate")
        server.remove()


def caught_up(svc: SelectorService) -> bool:
    learner = svc.learner
    assert learner is not None
    learner.notify()
    with learner.source.reader() as reader:
        last = reader.last_feedback_row()
    return learner.failure is None and learner.cursor == last


def gauge(svc: SelectorService, name: str) -> float:
    line = next(x for x in metrics(svc).splitlines() if x.startswith(name + " "))
    return float(line.split()[1])


def test_every_background_part_resumes_after_the_database_restarts(
    tmp_path: Path, pg: Postgres
) -> None:
    settings = settings_for(
        tmp_path,
        policy="bandit-v2",
        database_url=pg.new_database(),
        bandit_updates="background",
        learner_max_failing_s=2.0,
        shared_poll_s=0.2,
    )
    svc = build_service(settings)
    svc.start()
    try:
        assert svc.learner is not None
        assert svc.background.replicas is not None
        run_traffic(svc, 30)
        wait_for(lambda: caught_up(svc))
        assert gauge(svc, "selector_online_learner_up") == 1.0

        pg.stop("immediate")
        wait_for(lambda: svc.learner.failure is not None)  # type: ignore[union-attr]
        wait_for(lambda: svc.background.replicas.failure is not None)  # type: ignore[union-attr]
        wait_for(lambda: not svc.health().ready)  # the writer's idle check
        health = svc.health()
        learner = [p.reason for p in health.degraded if p.part == "online_learner"]
        assert learner, health
        assert learner[0].startswith("failing for "), learner
        assert "decisions use its state of" in learner[0]
        assert gauge(svc, "selector_online_learner_up") == 0.0
        # past SELECTOR_LEARNER_MAX_FAILING_S the learner itself fails readiness
        wait_for(lambda: any("has not read the decision log" in r for r in svc.health().reasons))
        assert gauge(svc, "selector_online_state_age_seconds") > 0.0

        pg.start_again()
        wait_for(lambda: svc.health().ready)  # the writer's idle check found it back
        run_traffic(svc, 30, seed=5)  # decisions and feedback are acknowledged again
        wait_for(lambda: caught_up(svc))  # the learner reads them, on a new connection
        wait_for(lambda: svc.background.replicas.failure is None)  # type: ignore[union-attr]
        assert gauge(svc, "selector_online_learner_up") == 1.0
        assert not [p for p in svc.health().degraded if p.part == "online_learner"]
        state = svc.learner.state()
        assert state["counts"]["learned"] >= 60
    finally:
        svc.stop()
    replay = new_learner(settings, svc.log)
    replay.stop(None)  # reads the whole log, then closes its reader
    assert body_of(replay.state()) == body_of(state)
