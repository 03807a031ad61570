"""The online layer's saved state: restored when usable, refused (and the log replayed) when not."""

from __future__ import annotations

from pathlib import Path

import pytest

from selector.engine import state_store
from selector.online import OnlineLearner, StateError, StateFile
from selector.wiring import build_service
from tests.selector.online.traffic import run_traffic, settings_for


def test_a_restart_restores_the_state_and_reads_what_it_had_not(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, bandit_save_every_s=3600)
    svc = build_service(settings)
    svc.start()
    run_traffic(svc, 40)
    svc.stop()  # saves
    svc = build_service(settings)
    svc.start()
    run_traffic(svc, 30, seed=4)  # not saved: the next save is an hour away
    learned = svc.learner.state()  # type: ignore[union-attr]
    svc.log.close()  # a crash: the learner never saves again

    again = build_service(settings)
    again.start()
    try:
        assert again.learner is not None
        assert again.learner.state() == learned
        assert again.learner.bandit.updates_ == 70
    finally:
        again.stop()


def test_a_corrupt_or_foreign_state_is_refused_and_the_log_replayed(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    svc = build_service(settings)
    svc.start()
    run_traffic(svc, 20)
    svc.stop()
    store = state_store(settings)
    assert isinstance(store, StateFile)
    path = store.path
    good = path.read_text()
    learner = svc.learner
    assert learner is not None
    args = (learner.bandit.params, svc.log, learner.reward, settings.store.join_window_s)

    path.write_text(good.replace('"updates":20', '"updates":21'))
    with pytest.raises(StateError, match="checksum"):
        OnlineLearner.from_saved(store, *args)
    other = learner.bandit.params.__class__(gamma=5.0)
    path.write_text(good)
    with pytest.raises(StateError, match="another configuration"):
        OnlineLearner.from_saved(store, other, *args[1:])
    path.write_text("{")
    rebuilt = build_service(settings)
    rebuilt.start()
    try:
        assert rebuilt.learner is not None
        assert rebuilt.learner.bandit.state() == learner.bandit.state()
    finally:
        rebuilt.stop()
