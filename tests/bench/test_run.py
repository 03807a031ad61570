"""The benchmark command runs every benchmark and reports each figure beside its
baseline (small sizes here: this checks that the benchmarks work, not their figures)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, requires_shared_data
from tests.postgres import postgres_bin

pytestmark = [
    requires_shared_data("zeroeval", "prices.csv"),
    requires_shared_data("intents", "banking77_train.csv"),
]
Report = dict[str, Any]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    out = tmp_path_factory.mktemp("bench")
    only = "decision_time,log_and_learn,train_scale,litellm_overhead,gateway_client"
    if postgres_bin() is not None:  # installed by the PostgreSQL tests' fixture as root
        only += ",postgres_log"
    if shutil.which("wrk"):  # the full run installs it; the suite does not
        only += ",http_throughput"
        if postgres_bin() is not None:
            only += ",replicas_throughput"
    subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--only", only, "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    body: Report = json.loads((out / "quick.json").read_text())
    body["markdown"] = (out / "quick.md").read_text()
    return body


def test_decision_time_covers_every_size_and_case_beside_its_baseline(report: Report) -> None:
    (section,) = [s for s in report["sections"] if s["benchmark"] == "decision_time"]
    cells = {(r["candidates"], r["case"]) for r in section["rows"]}
    assert cells == {(n, c) for n in (2, 6, 20) for c in ("intent given", "intent classified")}
    for row in section["rows"]:
        for policy in ("static_rules_baseline", "utility_v0_learned", "bandit_v1_learned"):
            assert 0 < row[policy]["p50_us"] <= row[policy]["p99_us"]
        alone = row["online_layer_alone"]
        assert 0 < alone["p50_us"] <= alone["p99_us"]  # two timings: never compared
        assert 0 < row["bandit_v2_learned"]["p50_us"] <= row["bandit_v2_learned"]["p99_us"]
        ratio = row["p99_ratio_to_baseline"]["utility_v0_learned"]
        expected = row["utility_v0_learned"]["p99_us"] / row["static_rules_baseline"]["p99_us"]
        assert ratio == pytest.approx(expected, abs=0.01)


def test_write_and_update_rates_have_their_baselines(report: Report) -> None:
    by_name = {s["benchmark"]: s["rows"] for s in report["sections"]}
    log = {r["sync"]: r for r in by_name["log_write"]}
    assert set(log) == {"normal", "full"}
    for r in log.values():
        assert r["decision_log_per_s"] > 0
        assert r["bare_sqlite_per_s"] > 0
    updates, fold = by_name["online_updates"]
    assert updates["bandit_learn_per_s"] > 0
    assert updates["vw_learn_per_s_baseline"] > 0
    assert fold["feedback_events"] == 1_000  # a call result and an outcome per decision
    assert fold["fold_events_per_s"] > 0
    (train,) = by_name["train_scale"]
    assert train["rows"] == 5_000
    assert train["quality_model"]["peak_mb"] > 0
    assert train["lightgbm_only_baseline"]["seconds"] > 0


def test_the_litellm_plug_in_is_timed_beside_the_plain_router_and_a_bare_route(
    report: Report,
) -> None:
    (section,) = [s for s in report["sections"] if s["benchmark"] == "litellm_overhead"]
    by = {r["variant"]: r for r in section["rows"]}
    for variant in ("plain", "routed", "route"):
        assert by[variant]["calls"] == 40
        assert 0 < by[variant]["p50_ms"] <= by[variant]["p99_ms"]
    added = by["routed"]["p50_ms"] - by["plain"]["p50_ms"]
    assert by["added"]["p50_ms"] == pytest.approx(added, abs=0.01)


def test_the_client_against_a_selector_that_is_down_is_timed_beside_a_healthy_one(
    report: Report,
) -> None:
    (section,) = [s for s in report["sections"] if s["benchmark"] == "gateway_client"]
    by = {r["variant"]: r for r in section["rows"]}
    assert set(by) == {
        "healthy",
        "dead, no breaker",
        "dead, breaker open",
        "mute, no breaker",
        "mute, breaker open",
    }
    assert all(0 < r["p50_ms"] <= r["p99_ms"] for r in section["rows"])
    assert "p50 ÷ healthy" in report["markdown"]


def test_the_postgres_log_is_timed_beside_bare_inserts(report: Report) -> None:
    found = [s for s in report["sections"] if s["benchmark"] == "postgres_log"]
    if not found:
        pytest.skip("PostgreSQL's server is not installed")
    [row] = found[0]["rows"]
    assert row["decisions"] == 300
    assert row["postgres_log_per_s"] > 0
    assert row["bare_psycopg_per_s"] > 0
    assert row["ratio"] == pytest.approx(
        row["postgres_log_per_s"] / row["bare_psycopg_per_s"], abs=0.01
    )
    assert 1 <= row["records_per_commit"] <= 16  # grouped, never more than the writers


def test_the_report_names_the_machine(report: Report) -> None:
    assert "cores" in report["machine"]
    assert report["markdown"].rstrip().endswith("._")
    assert "Measured on " in report["markdown"]


def test_the_page_block_is_replaced_and_its_images_copied(tmp_path: Path) -> None:
    from bench.run import markers, put_block

    begin, end = markers("bench")
    page = tmp_path / "docs" / "benchmarks.md"
    page.parent.mkdir()
    page.write_text(f"# x\n\n{begin}\nold table\n{end}\n\nafter\n")
    results = tmp_path / "results"
    results.mkdir()
    table = results / "latest.md"
    table.write_text("| a | b |\n|---|---|\n| 1 | 2 |\n\n![plot](img/p.png)\n")
    (results / "p.png").write_bytes(b"png")
    put_block(page, table)
    assert page.read_text() == (
        f"# x\n\n{begin}\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![plot](img/p.png)\n{end}\n\nafter\n"
    )
    assert (page.parent / "img" / "p.png").read_bytes() == b"png"
    page.write_text("no markers\n")
    with pytest.raises(SystemExit, match="bench:begin"):
        put_block(page, table)


def test_three_replicas_are_timed_beside_one(report: Report) -> None:
    if not shutil.which("wrk"):
        pytest.skip("wrk is not installed (make bench installs it)")
    found = {s["benchmark"]: s for s in report["sections"]}
    if "replicas_throughput" not in found:
        pytest.skip("PostgreSQL's server is not installed")
    row = found["replicas_throughput"]["rows"][0]
    assert row["replicas"] == 3
    assert row["aggregate_ratio"] == pytest.approx(
        row["median_aggregate_rps"] / row["one_replica_rps"], rel=0.05
    )
    postgres = found["http_throughput_postgres"]["rows"]
    assert {r["endpoint"] for r in postgres} == {"/v1/route", "/v1/feedback"}
    assert all(r["log"] == "postgresql" for r in postgres)
