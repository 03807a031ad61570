"""docs/your-data.md's walk-through, as a new user runs it, on the three kinds of table
a team brings (0/1 outcomes of several models, graded judge scores, two models), each
built here with a known answer: `selector catalog init`, `selector evaluate`,
`selector train --target`, `selector promote` and `selector serve`; then the table's
hold-out requests, routed by the real service, meet the target λ was calibrated to
offline (within 2 points: offline and served costs are the same costs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import ROOT, Server
from tests.user_tables import write_user_table
from training.counterfactual import Replay
from training.data import load_source

pytestmark = pytest.mark.integration


def selector(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "selector", *args],
        cwd=ROOT,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"selector {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def budget_between(table: Path) -> str:
    """A budget half-way between the cheapest and the dearest model's spend."""
    data = load_source(str(table))
    replay = Replay(data)
    spend = [replay.outcome(replay.single(j))[1] / replay.n * 1000 for j in range(3)]
    return f"budget={(min(spend) + max(spend)) / 2:.6f}"


TARGETS: dict[str, Callable[[Path], str]] = {
    "binary": budget_between,
    "graded": lambda _t: "min-quality=0.75",
    "two": lambda _t: "strong-share=0.4",
}


def served_choices(server: Server, table: Path) -> tuple[Replay, np.ndarray, np.ndarray]:
    """The hold-out requests replayed on the table, and the service's choice for each with
    its propensity."""
    data = load_source(str(table))
    hold = data.subset(data.holdout_mask())
    replay = Replay(hold)
    models = [str(m) for m in hold.models["model"]]
    chosen, propensity = [], []
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for _, r in hold.requests[replay.rows].iterrows():
            body = {
                "conversation_id": f"walk-{r['request_id']}",
                "messages": [{"role": "user", "content": r["text"]}],
                "prompt_tokens": int(r["prompt_tokens"]),
                "candidates": models,
            }
            answer = c.post("/v1/route", json=body)
            assert answer.status_code == 200, answer.text
            chosen.append(models.index(answer.json()["model"]))
            propensity.append(answer.json()["propensity"])
    return replay, np.array(chosen), np.array(propensity)


@pytest.mark.parametrize("kind", ["binary", "graded", "two"])
def test_a_users_table_goes_from_evaluation_to_serving_and_keeps_its_target(
    kind: str,
    tmp_path: Path,
    make_server: Callable[..., Server],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = write_user_table(tmp_path, kind)
    catalog, store = tmp_path / "catalog.yaml", f"sqlite:///{tmp_path}/mlflow.db"
    selector("catalog", "init", "--from", str(table), "--out", str(catalog))
    selector("catalog", "check", str(catalog))
    # as the walk-through says: the catalog served is the one training reads
    env = {"SELECTOR_CATALOG_PATH": str(catalog), "SELECTOR_MLFLOW_TRACKING_URI": store}
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    report = tmp_path / "evaluation.json"
    selector("evaluate", "--source", str(table), "--folds", "2", "--no-track", "--out", str(report))
    rows = [r["router"] for r in json.loads(report.read_text())["rows"]]
    assert rows[1].startswith("naive: TF-IDF")

    target = TARGETS[kind](table)
    model = tmp_path / "model"
    selector(
        "train", "--source", str(table), "--folds", "0", "--target", target, "--out", str(model)
    )  # fmt: skip
    said = selector("promote", "--version", "1")
    assert "promoted" in said

    server = make_server(**env, SELECTOR_POLICY="utility-v0")
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready", ready
    policy = json.loads((model / "model" / "model.json").read_text())["meta"]["policy"]
    replay, choice, certain = served_choices(server, table)
    quality, cost, _ = replay.outcome(choice)
    strong = [[str(m) for m in replay.models].index(m) for m in policy["strong_models"]]
    served = {
        "quality": quality,
        "cost_per_1k_usd": cost / replay.n * 1000,
        "strong_share": float(np.mean(np.isin(choice, strong))),
    }
    assert served["quality"] == pytest.approx(policy["quality"], abs=0.02)
    assert served["strong_share"] == pytest.approx(policy["strong_share"], abs=0.02)
    assert served["cost_per_1k_usd"] == pytest.approx(policy["cost_per_1k_usd"], rel=0.02)

    # utility-v0 serves the trained choice; the default policy draws each model with its
    # probability of being the best, so before any feedback some of its choices differ
    assert (certain == 1).all()
    default = make_server(tmp_path / "default.db", **env)
    _, drawn, chance = served_choices(default, table)
    differ = float(np.mean(drawn != choice))
    print(f"{kind}: the default policy chose otherwise than utility-v0 on {differ:.1%}")
    assert chance.mean() < 1  # draws, not the trained choice as such
    assert differ < 0.6
