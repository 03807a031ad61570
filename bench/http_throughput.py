"""`/v1/route` throughput and latency against a bare FastAPI echo endpoint.

Both servers run side by side as uvicorn processes started by this script (same
settings, one worker each), loaded in turn by wrk on loopback with the same JSON
payload and the same concurrency; rounds alternate so that drift on a shared
machine hits both. The figure that matters is the ratio.

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
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import CONVERSATION, write_results  # noqa: E402

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    wrk = ensure_wrk()
    body = json.dumps(PAYLOAD)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [[{body}]]\n"
        )
        echo_port, sel_port = free_port(), free_port()
        uvicorn = [
            sys.executable,
            "-m",
            "uvicorn",
            "--log-level",
            "warning",
            "--no-access-log",
            "--host",
            "127.0.0.1",
        ]
        echo = start([*uvicorn, "--port", str(echo_port), "bench.echo_app:app"], {}, echo_port)
        sel = start(
            [
                sys.executable,
                "-m",
                "selector",
                "serve",
                "--port",
                str(sel_port),
                "--log-level",
                "warning",
            ],
            {"SELECTOR_DB_PATH": str(Path(tmp) / "bench.db")},
            sel_port,
        )
        try:
            r = httpx.post(
                f"http://127.0.0.1:{sel_port}/v1/route",
                content=body,
                headers={"content-type": "application/json"},
            )
            r.raise_for_status()
            targets = {
                "echo": f"http://127.0.0.1:{echo_port}/echo",
                "route": f"http://127.0.0.1:{sel_port}/v1/route",
            }
            for url in targets.values():  # warm-up
                run_wrk(wrk, url, script, 2, args.connections)
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in targets}
            for i in range(args.rounds):
                for name, url in targets.items():
                    res = run_wrk(wrk, url, script, args.duration, args.connections)
                    runs[name].append(res)
                    print(
                        f"round {i + 1}/{args.rounds} {name:>5}: {res['rps']:.0f} req/s, "
                        f"p99 {res['p99_ms']:.2f} ms",
                        file=sys.stderr,
                    )
        finally:
            for p in (echo, sel):
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=15)
    med = {
        k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p99_ms", "errors")}
        for k, v in runs.items()
    }
    # each round loads both servers back to back: the ratio within a round is paired,
    # so drift of the shared machine between rounds cancels out
    paired = [r["rps"] / e["rps"] for r, e in zip(runs["route"], runs["echo"], strict=True)]
    ratio = statistics.median(paired)
    rows = [
        {
            "endpoint": k,
            "median_rps": round(v["rps"], 1),
            "median_p99_ms": round(v["p99_ms"], 2),
            "non_2xx": v["errors"],
            "connections": args.connections,
            "rounds": args.rounds,
        }
        for k, v in med.items()
    ]
    rows.append(
        {
            "route_to_echo_throughput_ratio": round(ratio, 3),
            "per_round_ratios": [round(x, 3) for x in paired],
        }
    )
    md = [
        f"| endpoint (wrk, {args.connections} connections, "
        f"median of {args.rounds} × {args.duration} s) | req/s | p99 |",
        "|---|---|---|",
        f"| bare FastAPI echo, same payload (baseline) | {med['echo']['rps']:.0f} "
        f"| {med['echo']['p99_ms']:.2f} ms |",
        f"| `POST /v1/route` (decision + durable SQLite write) | {med['route']['rps']:.0f} "
        f"| {med['route']['p99_ms']:.2f} ms |",
        f"| **throughput ratio route / echo** (median of per-round ratios "
        f"{', '.join(f'{x:.2f}' for x in paired)}) | **{ratio:.2f}×** | |",
    ]
    write_results("http_throughput", rows, "\n".join(md))


if __name__ == "__main__":
    main()
