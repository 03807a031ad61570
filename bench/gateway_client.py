"""What a selector that is down costs each gateway call: ``SelectorClient.route`` against
a healthy selector (the baseline), a dead one (connections refused) and a mute one
(connections accepted, never answered), with the client's breaker off and on. With the
breaker on, the figures are those of the calls after it opened (the first
``breaker_failures`` calls pay the deadline, then the client answers alone).

    .venv/bin/python bench/gateway_client.py [--calls 400]
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_selector_gateway import SelectorClient  # noqa: E402

from bench.common import CONVERSATION, Section  # noqa: E402
from bench.http_throughput import free_port, start  # noqa: E402

MESSAGES = [{"role": r, "content": c} for r, c in CONVERSATION]
MODELS = ["gemini-2.5-flash-lite", "gpt-5"]


def _timed(client: SelectorClient, calls: int, skip: int = 0) -> list[float]:
    out = []
    for i in range(calls + skip):
        t0 = time.perf_counter()
        client.route(f"bench-{i % 50}", MESSAGES, candidates=MODELS)
        if i >= skip:
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def _client(url: str, breaker: bool) -> SelectorClient:
    return SelectorClient(
        url,
        timeout_s=0.25,
        default_model=MODELS[0],
        breaker_failures=3 if breaker else 0,
        breaker_cooldown_s=3600,  # no probe during the measurement
    )


def run(calls: int = 400) -> Section:
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(1024)
    dead = f"http://127.0.0.1:{free_port()}"
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        selector = start(
            [sys.executable, "-m", "selector", "serve", "--port", str(port)],
            {"SELECTOR_DB_PATH": str(Path(tmp) / "bench.db"), "SELECTOR_LOG_LEVEL": "error"},
            port,
        )
        try:
            with _client(f"http://127.0.0.1:{port}", True) as c:
                _timed(c, 20)  # warm-up
                times["healthy"] = _timed(c, calls)
        finally:
            selector.send_signal(signal.SIGTERM)
            selector.wait(timeout=15)
    few = max(5, calls // 40)  # a mute selector without a breaker costs the deadline
    for name, url in (("dead", dead), ("mute", f"http://127.0.0.1:{mute.getsockname()[1]}")):
        with _client(url, False) as c:
            times[f"{name}, no breaker"] = _timed(c, few if name == "mute" else calls)
        with _client(url, True) as c:
            times[f"{name}, breaker open"] = _timed(c, calls, skip=3)
    mute.close()
    rows = [
        {
            "variant": v,
            "calls": len(t),
            "p50_ms": round(statistics.median(t), 3),
            "p99_ms": round(statistics.quantiles(t, n=100)[98], 3),
        }
        for v, t in times.items()
    ]
    base = rows[0]["p50_ms"]
    lines = [
        "| selector | calls | p50 ms | p99 ms | p50 ÷ healthy |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['variant']} | {r['calls']} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{r['p50_ms'] / base:.2f} |"
            for r in rows
        ),
    ]
    return Section(
        "gateway_client",
        "The client against a selector that is down: its deadline and breaker",
        "\n".join(lines),
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=400, help="calls per variant")
    print(run(ap.parse_args().calls).markdown)


if __name__ == "__main__":
    main()
