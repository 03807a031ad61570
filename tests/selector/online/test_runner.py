"""The online layer's background thread: decisions never wait for learning."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from selector.wiring import build_service
from tests.selector.online.traffic import run_traffic, settings_for


def test_decisions_do_not_wait_for_learning(tmp_path: Path) -> None:
    svc = build_service(settings_for(tmp_path, bandit_updates="background"))
    svc.start()
    try:
        assert svc.learner is not None
        run_traffic(svc, 20)
        deadline = time.monotonic() + 10
        while svc.learner.bandit.updates_ < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.learner.bandit.updates_ == 20
        # hold the learner mid-update: routes and feedback are still answered
        with svc.learner._lock:
            done = threading.Event()

            def traffic() -> None:
                run_traffic(svc, 10, seed=9)
                done.set()

            t = threading.Thread(target=traffic)
            t.start()
            assert done.wait(10)
            t.join()
            assert svc.learner.bandit.updates_ == 20
        deadline = time.monotonic() + 10
        while svc.learner.bandit.updates_ < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.learner.bandit.updates_ == 30
    finally:
        svc.stop()
