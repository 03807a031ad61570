from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from features.extractor import Conversation
from features.schema import CANDIDATE_FEATURES, REQUEST_FEATURES
from selector.cli import cli
from selector.config import load_settings
from selector.decisions import RouteInput
from selector.export import export_log
from selector.service import SelectorService
from selector.store import FeedbackEvent
from selector.wiring import build_service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SelectorService]:
    svc = build_service(load_settings(db_path=tmp_path / "log.db"))
    svc.start()
    yield svc
    svc.stop()


def fill(service: SelectorService) -> list[str]:
    async def run() -> list[str]:
        ids = []
        for i in range(3):
            conv = Conversation(messages=[("user", f"my card has not arrived {i}")], turns=2 + i)
            res = await service.route(RouteInput(f"c{i}", conv, text=f"my card {i}"))
            ids.append(res.decision_id)
        await service.feedback(FeedbackEvent(ids[0], {"latency_ms": 700.0, "error": "timeout"}))
        await service.feedback(
            FeedbackEvent(ids[0], {"model": "gpt-5-mini", "latency_ms": 300.0, "cost_usd": 0.001})
        )
        await service.feedback(FeedbackEvent(ids[0], {"resolved": True}))
        await service.feedback(FeedbackEvent(ids[1], {"reward": 0.25}))
        return ids

    return asyncio.run(run())


def test_export_joins_calls_and_outcomes(service: SelectorService, tmp_path: Path) -> None:
    ids = fill(service)
    n = export_log(service.log, tmp_path / "out.parquet")
    assert n == 3
    df = pd.read_parquet(tmp_path / "out.parquet").set_index("decision_id")
    first = df.loc[ids[0]]
    assert (first["calls"], first["errors"]) == (2, 1)
    assert first["latency_ms"] == pytest.approx(1000.0)
    assert first["served_model"] == "gpt-5-mini"
    assert bool(first["resolved"]) is True
    assert bool(first["override"]) == (first["model"] != "gpt-5-mini")
    assert df.loc[ids[1]]["reward"] == 0.25
    assert pd.isna(df.loc[ids[2]]["resolved"])
    for name, _ in REQUEST_FEATURES:
        assert f"f_{name}" in df.columns
    for name, _ in CANDIDATE_FEATURES:
        assert f"c_{name}" in df.columns
    assert df.loc[ids[2]]["f_turns"] == 4
    assert first["text"] == "my card 0"


def test_export_to_csv_through_the_cli(service: SelectorService, tmp_path: Path) -> None:
    fill(service)
    out = tmp_path / "log.csv"
    result = CliRunner().invoke(
        cli, ["export-log", "--db", str(service.settings.store.db_path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3 decisions" in result.output
    assert len(pd.read_csv(out)) == 3


def test_export_refuses_an_unknown_format(service: SelectorService, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="parquet or csv"):
        export_log(service.log, tmp_path / "out.xlsx")


def test_export_log_without_a_log_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["export-log", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "x.csv")]
    )
    assert result.exit_code != 0
    assert "no decision log" in result.output
