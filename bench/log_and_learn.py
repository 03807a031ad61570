"""Decision-log write rate and the online layer's update rate, each beside a baseline
measured in the same run.

- **Decision log**: real decision records (made by the service on the sample request)
  written through ``SQLiteLog`` by 16 concurrent writers on one event loop, as the
  HTTP server writes them (group commit), with ``sync=normal`` and ``sync=full``.
  Baseline: the same rows inserted by bare ``sqlite3`` in transactions of 16, into the
  same schema with the same pragmas: what SQLite alone costs.
- **Bandit updates**: ``learn`` calls per second of the built-in learner on
  6-candidate examples; baseline: Vowpal Wabbit's ``cb_explore_adf`` (the alternative
  learner, ``SELECTOR_BANDIT_LEARNER=vw``) on the same examples.
- **Learning fold**: feedback events per second that the online learner reads from a
  log of decisions with their call results and outcomes and learns from; baseline: the
  same reads (the same queries and JSON decoding) without learning.

    .venv/bin/python bench/log_and_learn.py [--decisions 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bench.common import CONVERSATION, Section, run_alone
from features.extractor import Conversation
from selector.config import load_settings
from selector.decisions import RouteInput
from selector.online.bandit import BanditParams, ResidualBandit, Update
from selector.online.vw import VWBandit
from selector.service import SelectorService
from selector.store import DecisionRecord, FeedbackEvent, LogReader, SQLiteLog
from selector.store.base import DecisionLog
from selector.store.schema import DDL
from selector.store.statements import decision_row
from selector.wiring import build_service, new_learner

WRITERS = 16
GROUPS = ["billing_dispute", "payments", "account", "general", "other"]


def make_records(service: SelectorService, n: int) -> list[DecisionRecord]:
    intents = [None, "card_arrival", "transaction_charged_twice", "cancel_transfer"]
    out = []
    for i in range(n):
        conv = Conversation(messages=CONVERSATION[: 2 + i % 5], intent=intents[i % 4])
        req = RouteInput(f"conversation-{i}", conv)
        fv, decision, other = service.decide(req)
        out.append(service.record(req, fv, decision, other))
    return out


async def write_all(log: DecisionLog, records: list[DecisionRecord]) -> float:
    """Seconds to write ``records`` through ``log`` from :data:`WRITERS` concurrent
    writers on one event loop, each awaiting its acknowledgement."""
    it = iter(records)

    async def writer() -> None:
        for rec in it:
            await log.write_decision(rec)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    return time.perf_counter() - t0


def log_rate(records: list[DecisionRecord], folder: Path, sync: str) -> float:
    log = SQLiteLog(folder / f"log-{sync}.db", sync=sync)
    log.start()
    try:
        seconds = asyncio.run(write_all(log, records))
    finally:
        log.close()
    return len(records) / seconds


def bare_rate(records: list[DecisionRecord], folder: Path, sync: str) -> float:
    conn = sqlite3.connect(folder / f"bare-{sync}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync.upper()}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(DDL)
    columns = len(decision_row(records[0]))
    insert = f"INSERT INTO decisions VALUES ({', '.join('?' * columns)})"
    t0 = time.perf_counter()
    for i in range(0, len(records), WRITERS):
        conn.execute("BEGIN")
        conn.executemany(insert, [decision_row(r) for r in records[i : i + WRITERS]])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return len(records) / seconds


def update_rates(n: int) -> dict[str, float]:
    rng = random.Random(0)
    models = ["m0", "m1", "m2", "m3", "m4", "m5"]
    examples = []  # the same updates for both learners, built before either is timed
    for _ in range(n):
        utilities = [rng.uniform(0.3, 0.9) for _ in models]
        group, chosen, reward = GROUPS[rng.randrange(5)], rng.randrange(6), rng.random() < 0.7
        examples.append(Update(models, group, utilities, chosen, 0.9, float(reward)))
    rates = {}
    for name, bandit in (("residual", ResidualBandit()), ("vw", VWBandit(BanditParams()))):
        t0 = time.perf_counter()
        for update in examples:
            bandit.learn(update)
        rates[name] = n / (time.perf_counter() - t0)
    return rates


async def _fill(service: SelectorService, n: int) -> None:
    rng = random.Random(1)
    log = service.log
    for rec in make_records(service, n):
        now = log.clock()
        rec = dataclasses.replace(rec, decision_id=service.new_decision_id(now), ts=now)
        await log.write_decision(rec)
        await log.write_feedback(
            FeedbackEvent(
                rec.decision_id,
                {"latency_ms": rng.uniform(300, 3000), "cost_usd": rng.uniform(1e-4, 1e-2)},
            )
        )
        await log.write_feedback(FeedbackEvent(rec.decision_id, {"resolved": rng.random() < 0.8}))


def fold_rates(folder: Path, n: int) -> dict[str, float]:
    settings = load_settings(
        db_path=folder / "fold.db", quality_model="prior", policy="bandit-v1"
    ).model_copy(update={"bandit_state_path": folder / "fold.json"})
    service = build_service(settings)
    service.log.start()
    try:
        asyncio.run(_fill(service, n))
    finally:
        service.log.close()
    learner = new_learner(settings, service.log)
    t0 = time.perf_counter()
    events = learner.catch_up()
    fold = events / (time.perf_counter() - t0)
    learner.stop(None)
    assert learner.bandit.updates_ == n, learner.counts  # type: ignore[attr-defined]

    reader = LogReader(folder / "fold.db")
    t0 = time.perf_counter()
    cursor, read = 0, 0
    while True:
        rows = reader.feedback_after(cursor, 2_000)
        for row in rows:
            cursor = row.row
            if row.is_outcome:  # the fold sums its call results, reads its decision
                reader.calls(row.decision_id, row.row)
                reader.decision(row.decision_id)
        read += len(rows)
        if len(rows) < 2_000:
            break
    reads = read / (time.perf_counter() - t0)
    reader.close()
    return {"events": float(events), "fold": fold, "reads": reads}


def run(decisions: int = 20_000) -> list[Section]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        settings = load_settings(db_path=tmp / "scratch.db", quality_model="prior")
        service = build_service(settings)
        print(f"making {decisions:,} decision records…", file=sys.stderr)
        records = make_records(service, decisions)
        log: dict[str, dict[str, float]] = {}
        for sync in ("normal", "full"):
            log[sync] = {
                "decision_log_per_s": round(log_rate(records, tmp, sync)),
                "bare_sqlite_per_s": round(bare_rate(records, tmp, sync)),
            }
            log[sync]["ratio"] = round(
                log[sync]["decision_log_per_s"] / log[sync]["bare_sqlite_per_s"], 2
            )
            print(f"log sync={sync}: {log[sync]}", file=sys.stderr)
        updates = update_rates(decisions)
        print(f"bandit updates: {updates}", file=sys.stderr)
        fold = fold_rates(tmp, decisions // 4)
        print(f"fold: {fold}", file=sys.stderr)
    size = sum(len(orjson.dumps(dataclasses.asdict(r))) for r in records[:1000]) / 1000
    return [_log_section(log, decisions, size), _online_section(updates, fold, decisions)]


def _log_section(log: dict[str, dict[str, float]], decisions: int, size: float) -> Section:
    log_rows: list[dict[str, Any]] = [
        {"sync": k, "writers": WRITERS, "decisions": decisions, **v} for k, v in log.items()
    ]
    log_md = "\n".join(
        [
            f"| decisions written ({decisions:,} records of about {size / 1024:.1f} KB, "
            f"{WRITERS} concurrent writers) | decision log / s | bare sqlite3, same rows "
            f"in transactions of {WRITERS} (baseline) / s | ratio |",
            "|---|---|---|---|",
            *(
                f"| `SELECTOR_DB_SYNC={k}` | {v['decision_log_per_s']:,} "
                f"| {v['bare_sqlite_per_s']:,} | {v['ratio']}× |"
                for k, v in log.items()
            ),
        ]
    )
    return Section("log_write", "Decision-log write rate", log_md, log_rows)


def _online_section(updates: dict[str, float], fold: dict[str, float], decisions: int) -> Section:
    online_rows: list[dict[str, Any]] = [
        {
            "bandit_learn_per_s": round(updates["residual"]),
            "vw_learn_per_s_baseline": round(updates["vw"]),
            "ratio": round(updates["residual"] / updates["vw"], 1),
            "examples": decisions,
            "candidates": 6,
        },
        {
            "fold_events_per_s": round(fold["fold"]),
            "reads_only_events_per_s_baseline": round(fold["reads"]),
            "ratio": round(fold["fold"] / fold["reads"], 2),
            "feedback_events": int(fold["events"]),
        },
    ]
    online_md = "\n".join(
        [
            "| online layer | rate | baseline | ratio |",
            "|---|---|---|---|",
            f"| bandit updates (built-in learner, 6 candidates) "
            f"| {updates['residual']:,.0f} / s "
            f"| {updates['vw']:,.0f} / s: Vowpal Wabbit `cb_explore_adf`, same examples "
            f"| {online_rows[0]['ratio']}× |",
            f"| learning fold over the log ({int(fold['events']):,} call results and "
            f"outcomes) | {fold['fold']:,.0f} events / s "
            f"| {fold['reads']:,.0f} events / s: the same reads without learning "
            f"| {online_rows[1]['ratio']}× |",
        ]
    )
    return Section("online_updates", "Online layer update rate", online_md, online_rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=20_000)
    args = ap.parse_args()
    for section in run(args.decisions):
        run_alone(section)


if __name__ == "__main__":
    main()
