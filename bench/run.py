"""Every benchmark in one run: one Markdown table per benchmark and one JSON file, each
figure beside its baseline measured in the same run.

- decision time, 2 / 6 / 20 candidates, intent given and classified (bench/decision_time.py)
- `/v1/route` and `/v1/feedback` throughput and p99 against a bare FastAPI echo
  endpoint, loaded by wrk on loopback (bench/http_throughput.py; wrk is installed from
  Debian's packages when missing)
- decision-log write rate, bandit update rate, learning fold (bench/log_and_learn.py)
- training time and peak memory at 100k and 1M rows (bench/train_scale.py)
- the latency the LiteLLM plug-in adds to a ``litellm.Router`` call, against a bare
  route call (bench/litellm_overhead.py)
- what a dead or mute selector costs each call of the gateway's client, with its breaker
  off and on, against a healthy selector (bench/gateway_client.py)
- the decision log's write rate on PostgreSQL, against bare psycopg inserts of the same
  rows (bench/postgres_log.py; the server is Debian's, installed when missing as root)
- `/v1/route` and `/v1/feedback` on a PostgreSQL log against the echo endpoint, and the
  aggregate route throughput of three replicas sharing the log against one
  (bench/replicas_throughput.py)

Writes ``bench/results/latest.md`` and ``latest.json``; with ``--docs`` it also puts
the tables, with the machine and date, in ``docs/benchmarks.md`` (between its
``bench:begin`` and ``bench:end`` markers). About 8 minutes on 2 cores; ``--quick``
runs every benchmark small (a minute or two) to check that they work. ``--put soak``
puts the soak's report (``make soak``) in ``docs/operations.md``.

    .venv/bin/python bench/run.py [--docs] [--quick] [--only decision_time,http_throughput,...]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    decision_time,
    gateway_client,
    http_throughput,
    litellm_overhead,
    log_and_learn,
    postgres_log,
    replicas_throughput,
    train_scale,
)
from bench.common import RESULTS, Section, write_report  # noqa: E402

NAMES = (
    "decision_time",
    "http_throughput",
    "log_and_learn",
    "train_scale",
    "litellm_overhead",
    "gateway_client",
    "postgres_log",
    "replicas_throughput",
)


DOCS = ROOT / "docs"
#: the page that holds each block of figures
PAGES = {"bench": DOCS / "benchmarks.md", "soak": DOCS / "operations.md"}


def markers(block: str) -> tuple[str, str]:
    """The page's markers around ``block``'s text.

    >>> markers("soak")
    ('<!-- soak:begin -->', '<!-- soak:end -->')
    """
    return f"<!-- {block}:begin -->", f"<!-- {block}:end -->"


def sections(name: str, quick: bool) -> list[Section]:
    if name == "decision_time":
        return [decision_time.run(n=300, train_requests=300) if quick else decision_time.run()]
    if name == "http_throughput":
        if quick:
            return [http_throughput.run(duration=1, rounds=1)]
        return [http_throughput.run()]
    if name == "log_and_learn":
        return log_and_learn.run(decisions=2_000 if quick else 20_000)
    if name == "postgres_log":
        return [postgres_log.run(decisions=300 if quick else 5_000)]
    if name == "replicas_throughput":
        if quick:
            return replicas_throughput.run(duration=1, rounds=1)
        return replicas_throughput.run()
    if name == "gateway_client":
        return [gateway_client.run(calls=40 if quick else 400)]
    if name == "litellm_overhead":
        return [litellm_overhead.run(calls=40, rounds=2) if quick else litellm_overhead.run()]
    return [train_scale.run((5_000,) if quick else (100_000, 1_000_000))]


def put_block(page: Path, report: Path, block: str = "bench") -> None:
    """Replace the text between the page's ``block`` markers with the report, and copy
    the report's images (PNG files beside it, linked as ``img/<name>``) to the page's
    ``img/`` folder."""
    begin, end = markers(block)
    text = page.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{page} has no {begin} … {end} block to put the tables in")
    body = report.read_text(encoding="utf-8").strip()
    for image in re.findall(r"\(img/([\w.-]+\.png)\)", body):
        (page.parent / "img").mkdir(exist_ok=True)
        shutil.copyfile(report.parent / image, page.parent / "img" / image)
    page.write_text(pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text), encoding="utf-8")
    print(f"{report.name} written to {page}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(NAMES), help="comma-separated benchmarks")
    ap.add_argument("--quick", action="store_true", help="small sizes: checks, not figures")
    ap.add_argument("--docs", action="store_true", help="put the tables in docs/benchmarks.md")
    ap.add_argument("--name", default=None, help="results file name (default latest)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    ap.add_argument(
        "--put",
        metavar="BLOCK",
        default=None,
        help="only put results/<BLOCK>.md in its page's BLOCK markers (make soak: soak)",
    )
    args = ap.parse_args()
    if args.put:
        put_block(PAGES[args.put], args.out / f"{args.put}.md", args.put)
        return
    if args.docs and args.quick:
        raise SystemExit("--docs takes figures from a full run, not --quick")
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        raise SystemExit(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    t0 = time.perf_counter()
    done: list[Section] = []
    for i, name in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {name}…", file=sys.stderr)
        started = time.perf_counter()
        done += sections(name, args.quick)
        print(f"[{i}/{len(chosen)}] {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    name = args.name or ("quick" if args.quick else "latest")
    report = write_report(name, done, time.perf_counter() - t0, args.out)
    if args.docs:
        put_block(PAGES["bench"], report)


if __name__ == "__main__":
    main()
