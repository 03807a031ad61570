"""The decision log's write rate on PostgreSQL, beside bare psycopg inserts of the same
rows, measured in the same run on a server this script starts (Debian's PostgreSQL, as
the tests start it).

- **PostgreSQL log**: real decision records written through ``PostgresLog`` by 16
  concurrent writers on one event loop, as the HTTP server writes them: each write is
  acknowledged after its group's commit. Also: how many records one commit held.
- **Baseline**: the same rows inserted by bare psycopg into the same schema, in
  transactions of 16: what PostgreSQL alone costs.

    .venv/bin/python bench/postgres_log.py [--decisions 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Section
from bench.log_and_learn import WRITERS, make_records, write_all
from selector.config import load_settings
from selector.store import DecisionRecord
from selector.store.postgres.schema import prepare
from selector.store.postgres.statements import insert_decisions
from selector.store.postgres.writer import PostgresLog
from selector.wiring import build_service
from tests.postgres import Postgres, postgres_bin


def log_rate(url: str, records: list[DecisionRecord]) -> tuple[float, float]:
    """Records a second through the log, and records per commit."""
    log = PostgresLog(url)
    log.start()
    try:
        seconds = asyncio.run(write_all(log, records))
    finally:
        log.close()
    return len(records) / seconds, len(records) / max(log.commits, 1)


def bare_rate(url: str, records: list[DecisionRecord]) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        prepare(conn, "bench")
        t0 = time.perf_counter()
        for i in range(0, len(records), WRITERS):
            with conn.transaction():
                insert_decisions(conn, records[i : i + WRITERS])
        return len(records) / (time.perf_counter() - t0)


def run(decisions: int = 5_000) -> Section:
    found = postgres_bin()
    if found is None:
        raise SystemExit("PostgreSQL's server is needed: apt-get install postgresql")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(db_path=Path(tmp) / "scratch.db", quality_model="prior")
        records = make_records(build_service(settings), decisions)
    server = Postgres(found).start()
    try:
        server.wait_ready()
        rate, per_commit = log_rate(server.new_database(), records)
        bare = bare_rate(server.new_database(), records)
    finally:
        server.stop()
        server.remove()
    row: dict[str, Any] = {
        "decisions": decisions,
        "writers": WRITERS,
        "postgres_log_per_s": round(rate),
        "bare_psycopg_per_s": round(bare),
        "ratio": round(rate / bare, 2),
        "records_per_commit": round(per_commit, 1),
    }
    markdown = "\n".join(
        [
            f"| decisions written ({decisions:,} records, {WRITERS} concurrent writers) "
            f"| PostgreSQL log / s | records per commit | bare psycopg, same rows in "
            f"transactions of {WRITERS} (baseline) / s | ratio |",
            "|---|---|---|---|---|",
            f"| local PostgreSQL, default settings | {row['postgres_log_per_s']:,} "
            f"| {row['records_per_commit']} | {row['bare_psycopg_per_s']:,} | {row['ratio']}× |",
        ]
    )
    return Section("postgres_log", "Decision-log write rate on PostgreSQL", markdown, [row])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=5_000)
    print(run(ap.parse_args().decisions).markdown)


if __name__ == "__main__":
    main()
