"""Where the CPU goes while ``wrk`` loads a running server: each process's share of a
core (the server, PostgreSQL's processes together, wrk itself) over a window of the
load, read from ``/proc/<pid>/stat``, with the throughput wrk measured.

    .venv/bin/python bench/cpu_split.py http://127.0.0.1:8080/v1/route [--seconds 8]

The body is the route request of the HTTP benchmark (``bench/http_throughput.py``).
A process that uses one core whole is CPU-bound; one well below it waits on others.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.http_throughput import PAYLOAD, ensure_wrk, lua_post

__all__ = ["cpu_seconds", "split"]


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """Each process's name (its command line, or PostgreSQL's) and its CPU seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        label = "postgres" if name.startswith("postgres") else (command.strip()[:70] or name)
        out[int(entry)] = (label, (int(fields[11]) + int(fields[12])) / tick)
    return out


def split(url: str, seconds: float = 8.0, connections: int = 16) -> tuple[float, dict[str, float]]:
    """Requests a second, and each process group's share of a core over the middle of
    the load."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "route.lua"
        script.write_text(lua_post(json.dumps(PAYLOAD)))
        wrk = subprocess.Popen(
            [ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(seconds / 4)
        before, t0 = cpu_seconds(), time.perf_counter()
        time.sleep(seconds / 2)
        after, took = cpu_seconds(), time.perf_counter() - t0
        out = wrk.communicate()[0]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    shares: dict[str, float] = {}
    for pid, (label, spent) in after.items():
        if pid in before:
            share = (spent - before[pid][1]) / took
            if share > 0.01:
                shares[label] = shares.get(label, 0.0) + share
    return rps, dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    rps, shares = split(args.url, args.seconds)
    print(f"{rps:,.0f} requests a second")
    for label, share in shares.items():
        print(f"{100 * share:6.1f} % of a core  {label}")


if __name__ == "__main__":
    main()
