"""The service on a PostgreSQL log: `/v1/route` and `/v1/feedback` throughput and p99
against the bare echo endpoint (as ``bench/http_throughput.py`` measures them on SQLite),
and the aggregate `/v1/route` throughput of three replicas sharing one log against one
replica alone, both loaded by wrk with the same total connections, in alternating rounds
of the same run.

A throwaway PostgreSQL server is started in a temporary folder (as the tests start it).
On this 2-core machine the three replicas, the database and wrk share two cores: the
aggregate says what sharing one log costs, not what three machines would serve.

    .venv/bin/python bench/replicas_throughput.py [--duration 8] [--connections 16] [--rounds 3]
"""

from __future__ import annotations

import json
import signal
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import http_throughput as ht  # noqa: E402
from bench.common import Section, run_alone  # noqa: E402
from tests.postgres import Postgres, postgres_bin  # noqa: E402


def _load(
    wrk: str, ports: list[int], script: Path, duration: int, connections: int
) -> dict[str, float]:
    """wrk on each of ``ports`` at once, the connections split among them: the summed
    req/s and the worst p99."""
    each = max(1, connections // len(ports))
    with ThreadPoolExecutor(len(ports)) as pool:
        found = list(
            pool.map(
                lambda p: ht.run_wrk(wrk, f"http://127.0.0.1:{p}/v1/route", script, duration, each),
                ports,
            )
        )
    return {
        "rps": sum(f["rps"] for f in found),
        "p99_ms": max(f["p99_ms"] for f in found),
        "errors": sum(f["errors"] for f in found),
    }


def aggregate(url: str, duration: int, connections: int, rounds: int) -> Section:
    """Three replicas on the log at ``url`` against the first of them alone."""
    wrk = ht.ensure_wrk()
    ports = [ht.free_port() for _ in range(3)]
    procs = [
        ht.selector_server(p, {"SELECTOR_DATABASE_URL": url, "SELECTOR_REPLICA_ID": f"r{i}"})
        for i, p in enumerate(ports)
    ]
    one: list[dict[str, float]] = []
    three: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "route.lua"
            script.write_text(ht.lua_post(json.dumps(ht.PAYLOAD)))
            _load(wrk, ports, script, 2, connections)  # warm-up
            for i in range(rounds):
                one.append(_load(wrk, ports[:1], script, duration, connections))
                three.append(_load(wrk, ports, script, duration, connections))
                print(f"round {i + 1}/{rounds}: one replica {one[-1]['rps']:.0f} req/s, "
                      f"three {three[-1]['rps']:.0f} req/s", file=sys.stderr)  # fmt: skip
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    paired = [t["rps"] / o["rps"] for t, o in zip(three, one, strict=True)]
    med = {k: statistics.median(r[k] for r in three) for k in ("rps", "p99_ms", "errors")}
    single = statistics.median(r["rps"] for r in one)
    ratio = statistics.median(paired)
    row = {
        "replicas": 3,
        "median_aggregate_rps": round(med["rps"], 1),
        "median_worst_p99_ms": round(med["p99_ms"], 2),
        "non_2xx": med["errors"],
        "one_replica_rps": round(single, 1),
        "aggregate_ratio": round(ratio, 3),
        "per_round_ratios": [round(x, 3) for x in paired],
        "connections": connections,
        "rounds": rounds,
        "duration_s": duration,
    }
    md = "\n".join(
        [
            f"| `POST /v1/route`, PostgreSQL log (wrk, {connections} connections in all, "
            f"median of {rounds} × {duration} s) | req/s | worst p99 | ratio to one replica |",
            "|---|---|---|---|",
            f"| one replica | {single:,.0f} | | 1 |",
            f"| three replicas sharing the log | {med['rps']:,.0f} | {med['p99_ms']:.2f} ms "
            f"| **{ratio:.2f}×** ({', '.join(f'{x:.2f}' for x in paired)}) |",
        ]
    )
    return Section("replicas_throughput", "Three replicas on one PostgreSQL log", md, [row])


def run(duration: int = 8, connections: int = 16, rounds: int = 3) -> list[Section]:
    found = postgres_bin()
    if found is None:
        sys.exit("PostgreSQL's server is needed: apt-get install postgresql")
    pg = Postgres(found).start()
    try:
        pg.wait_ready()
        return [
            ht.run(duration, connections, rounds, database_url=pg.new_database()),
            aggregate(pg.new_database(), duration, connections, rounds),
        ]
    finally:
        pg.stop()
        pg.remove()


def main() -> None:
    args = ht.wrk_options(__doc__)
    for section in run(args.duration, args.connections, args.rounds):
        run_alone(section)


if __name__ == "__main__":
    main()
