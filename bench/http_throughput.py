"""`/v1/route` and `/v1/feedback` throughput and p99 against a bare FastAPI echo endpoint.

Both servers run side by side as uvicorn processes started by this script (same
settings, one worker each), loaded in turn by wrk on loopback with the same JSON
payloads and the same concurrency; rounds alternate so that drift on a shared machine
hits both. Feedback events are call results for 1,000 decisions made first, each
request a distinct event (a resent one would only be acknowledged); the echo endpoint
gets the same stream of bodies. The figures that matter are the ratios.

    .venv/bin/python bench/http_throughput.py [--duration 8] [--connections 16] [--rounds 3]

Needs wrk (Debian package `wrk`); it is installed when missing and this runs as root.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import CONVERSATION, Section, run_alone  # noqa: E402

__all__ = [
    "PAYLOAD",
    "ensure_wrk",
    "free_port",
    "lua_post",
    "run",
    "run_wrk",
    "selector_server",
    "wrk_options",
]

PAYLOAD = {
    "conversation_id": "bench-conversation",
    "messages": [{"role": r, "content": c} for r, c in CONVERSATION],
    "intent": "card_arrival",
}


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"server {' '.join(cmd)} did not start")


def run_wrk(wrk: str, url: str, script: Path, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(m.group(1)) * unit,
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }  # type: ignore[union-attr]


def lua_post(body: str) -> str:
    """A wrk script that POSTs ``body`` on every request."""
    return (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{body}]]\n"
    )


def lua_feedback(decision_ids: list[str], offset: int) -> str:
    """A wrk script that POSTs one distinct call result per request, cycling over
    ``decision_ids``; ``offset`` keeps events of different runs distinct (a repeated
    event is only acknowledged, not stored again, and would flatter the figure)."""
    ids = ", ".join(f'"{d}"' for d in decision_ids)
    return f"""
ids = {{{ids}}}
n = {offset}
request = function()
  n = n + 1
  local body = '{{"decision_id":"' .. ids[(n % #ids) + 1] .. '","latency_ms":' ..
    (n % 5000 + n / 1e7) .. ',"prompt_tokens":120,"completion_tokens":240,"cost_usd":0.0012}}'
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json"}}, body)
end
"""


def selector_server(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``selector serve`` on ``port`` with the settings ``env``, started."""
    # the default logging: INFO and the access log, as JSON lines (to nowhere)
    return start([sys.executable, "-m", "selector", "serve", "--port", str(port)], env, port)


@contextmanager
def _servers(tmp: Path, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """The bare echo app and the selector (settings ``env``; default: a SQLite log in
    ``tmp``), each a uvicorn process: their ports."""
    echo_port, sel_port = free_port(), free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
    uvicorn += ["--host", "127.0.0.1"]
    echo = start([*uvicorn, "--port", str(echo_port), "bench.echo_app:app"], {}, echo_port)
    sel = selector_server(sel_port, env or {"SELECTOR_DB_PATH": str(tmp / "bench.db")})
    try:
        yield echo_port, sel_port
    finally:
        for proc in (echo, sel):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


def _decide(port: int, n: int = 1_000) -> list[str]:
    """The ids of ``n`` decisions, for feedback to refer to."""
    decided = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        for i in range(n):
            r = c.post("/v1/route", json={**PAYLOAD, "conversation_id": f"c-{i}"})
            r.raise_for_status()
            decided.append(r.json()["decision_id"])
    return decided


Runs = dict[str, list[dict[str, float]]]


def _measure(tmp: Path, duration: int, connections: int, rounds: int, env: dict[str, str]) -> Runs:
    """wrk against both servers, each endpoint and its echo back to back, ``rounds`` times."""
    wrk = ensure_wrk()
    route_script = tmp / "route.lua"
    route_script.write_text(lua_post(json.dumps(PAYLOAD)))
    runs: Runs = {k: [] for k in ("echo route", "route", "echo feedback", "feedback")}
    serial = 0
    with _servers(tmp, env) as (echo_port, sel_port):
        decided = _decide(sel_port)

        def load(name: str, seconds: int) -> dict[str, float]:
            nonlocal serial
            serial += 1
            if name.endswith("route"):
                script = route_script
            else:  # the same stream of distinct feedback bodies to both servers
                script = tmp / f"feedback-{serial}.lua"
                script.write_text(lua_feedback(decided, serial * 10_000_000))
            port = sel_port if name in ("route", "feedback") else echo_port
            path = "/echo" if name.startswith("echo") else f"/v1/{name}"
            return run_wrk(wrk, f"http://127.0.0.1:{port}{path}", script, seconds, connections)

        for name in runs:  # warm-up
            load(name, 2)
        for i in range(rounds):
            for name in runs:
                res = load(name, duration)
                runs[name].append(res)
                print(
                    f"round {i + 1}/{rounds} {name:>13}: {res['rps']:.0f} req/s, "
                    f"p99 {res['p99_ms']:.2f} ms, non-2xx {res['errors']:.0f}",
                    file=sys.stderr,
                )
    return runs


def _row(name: str, runs: Runs, settings: dict[str, object]) -> tuple[dict[str, object], str]:
    """The result of one endpoint against its echo, as a JSON row and a table cell list."""
    ours, base = runs[name], runs[f"echo {name}"]
    # each round loads both servers back to back: the ratio within a round is
    # paired, so drift of the shared machine between rounds cancels out
    paired = [o["rps"] / b["rps"] for o, b in zip(ours, base, strict=True)]
    med = {m: statistics.median(r[m] for r in ours) for m in ("rps", "p99_ms", "errors")}
    bmed = {m: statistics.median(r[m] for r in base) for m in ("rps", "p99_ms")}
    ratio = statistics.median(paired)
    row = {
        "endpoint": f"/v1/{name}",
        "median_rps": round(med["rps"], 1),
        "median_p99_ms": round(med["p99_ms"], 2),
        "non_2xx": med["errors"],
        "echo_baseline": {
            "median_rps": round(bmed["rps"], 1),
            "median_p99_ms": round(bmed["p99_ms"], 2),
        },
        "throughput_ratio": round(ratio, 3),
        "per_round_ratios": [round(x, 3) for x in paired],
        "p99_ratio": round(med["p99_ms"] / bmed["p99_ms"], 2),
        **settings,
    }
    cells = (
        f"| {med['rps']:,.0f} | {med['p99_ms']:.2f} ms "
        f"| {bmed['rps']:,.0f}, {bmed['p99_ms']:.2f} ms "
        f"| **{ratio:.2f}×** ({', '.join(f'{x:.2f}' for x in paired)}) |"
    )
    return row, cells


def run(
    duration: int = 8, connections: int = 16, rounds: int = 3, database_url: str | None = None
) -> Section:
    """The figures on the SQLite log, or on the PostgreSQL one at ``database_url``."""
    env = {"SELECTOR_DATABASE_URL": database_url} if database_url else {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = _measure(Path(tmp), duration, connections, rounds, env)
    engine = "postgresql" if database_url else "sqlite"
    settings: dict[str, object] = {"connections": connections, "rounds": rounds}
    settings.update(duration_s=duration, log=engine)
    rows = []
    md = [
        f"| endpoint (wrk on loopback, {connections} connections, median of {rounds} × "
        f"{duration} s) | req/s | p99 | bare FastAPI echo of the same payload: req/s, p99 "
        "| throughput ratio (per round) |",
        "|---|---|---|---|---|",
    ]
    for name, what in (
        ("route", "`POST /v1/route` (decision + log write)"),
        ("feedback", "`POST /v1/feedback` (call result: join, dedupe, log write)"),
    ):
        row, cells = _row(name, runs, settings)
        rows.append(row)
        md.append(f"| {what} {cells}")
    return Section(
        "http_throughput" if engine == "sqlite" else "http_throughput_postgres",
        "HTTP throughput and p99 against a bare FastAPI echo endpoint"
        + (", on a PostgreSQL log" if database_url else ""),
        "\n".join(md),
        rows,
    )


def wrk_options(doc: str) -> argparse.Namespace:
    """The command line of a wrk benchmark: ``--duration``, ``--connections``, ``--rounds``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    return ap.parse_args()


def main() -> None:
    args = wrk_options(__doc__)
    run_alone(run(args.duration, args.connections, args.rounds))


if __name__ == "__main__":
    main()
