"""measure-worlds through the real service, small: every policy gets a share of the
oracle's reward in every world, and the report says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED_DATA, requires_shared_data

pytestmark = [
    pytest.mark.integration,
    requires_shared_data("intents", "banking77_test.csv"),
    requires_shared_data("dialogues", "sgd_dialogues.csv.gz"),
]


def test_measure_worlds_replays_each_world_through_every_policy(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "selector",
            "measure-worlds",
            "--worlds",
            "2",
            "--conversations",
            "30",
            "--data",
            str(SHARED_DATA),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "worlds.json").read_text())
    assert [w["seed"] for w in result["worlds"]] == [0, 1]
    expected = {
        "uniform-random",
        "always-dearest",
        "always-cheapest",
        "static-rules",
        "oracle",
        "utility-v0",
        "bandit-v1",
        "bandit-v2",
    }
    for world in result["worlds"]:
        assert set(world["share_of_oracle"]) == expected
        assert world["share_of_oracle"]["oracle"] == 1.0
    assert set(result["summary"]["policies"]) == expected - {"oracle"}
    assert "| bandit-v2 |" in done.stdout
    assert (tmp_path / "worlds.png").stat().st_size > 0
    assert (tmp_path / "world-0" / "catalog.yaml").is_file()
