"""Every benchmark in one run: one Markdown table per benchmark and one JSON file, each
figure beside its baseline measured in the same run.

- decision time, 2 / 6 / 20 candidates, intent given and classified (bench/decision_time.py)
- `/v1/route` and `/v1/feedback` throughput and p99 against a bare FastAPI echo
  endpoint, loaded by wrk on loopback (bench/http_throughput.py; wrk is installed from
  Debian's packages when missing)
- decision-log write rate, bandit update rate, learning fold (bench/log_and_learn.py)
- training time and peak memory at 100k and 1M rows (bench/train_scale.py)

Writes ``bench/results/latest.md`` and ``latest.json``; with ``--readme`` it also puts
the tables, with the machine and date, in the README's Performance section (between
its ``bench:begin`` and ``bench:end`` markers). About 8 minutes on 2 cores;
``--quick`` runs every benchmark small (a minute or two) to check that they work.

    .venv/bin/python bench/run.py [--readme] [--quick] [--only decision_time,http_throughput,...]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import decision_time, http_throughput, log_and_learn, train_scale  # noqa: E402
from bench.common import RESULTS, Section, write_report  # noqa: E402

NAMES = ("decision_time", "http_throughput", "log_and_learn", "train_scale")


def markers(block: str) -> tuple[str, str]:
    """The README markers around ``block``'s text.

    >>> markers("soak")
    ('<!-- soak:begin -->', '<!-- soak:end -->')
    """
    return f"<!-- {block}:begin -->", f"<!-- {block}:end -->"


def sections(name: str, quick: bool) -> list[Section]:
    if name == "decision_time":
        return [decision_time.run(n=300 if quick else 10_000)]
    if name == "http_throughput":
        if quick:
            return [http_throughput.run(duration=1, rounds=1)]
        return [http_throughput.run()]
    if name == "log_and_learn":
        return log_and_learn.run(decisions=2_000 if quick else 20_000)
    return [train_scale.run((5_000,) if quick else (100_000, 1_000_000))]


def update_readme(readme: Path, report: Path, block: str = "bench") -> None:
    """Replace the text between the README's ``block`` markers with the report."""
    begin, end = markers(block)
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no {begin} … {end} block to put the tables in")
    body = report.read_text(encoding="utf-8").strip()
    readme.write_text(pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text), encoding="utf-8")
    print(f"{report.name} written to {readme}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(NAMES), help="comma-separated benchmarks")
    ap.add_argument("--quick", action="store_true", help="small sizes: checks, not figures")
    ap.add_argument("--readme", action="store_true", help="put the tables in README.md")
    ap.add_argument("--name", default=None, help="results file name (default latest)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    ap.add_argument(
        "--put",
        metavar="BLOCK",
        default=None,
        help="only put results/<BLOCK>.md in the README's BLOCK markers (make soak: soak)",
    )
    args = ap.parse_args()
    if args.put:
        update_readme(ROOT / "README.md", args.out / f"{args.put}.md", args.put)
        return
    if args.readme and args.quick:
        raise SystemExit("--readme takes figures from a full run, not --quick")
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        raise SystemExit(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    t0 = time.perf_counter()
    done: list[Section] = []
    for i, name in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {name}…", file=sys.stderr)
        done += sections(name, args.quick)
    name = args.name or ("quick" if args.quick else "latest")
    report = write_report(name, done, time.perf_counter() - t0, args.out)
    if args.readme:
        update_readme(ROOT / "README.md", report)


if __name__ == "__main__":
    main()
