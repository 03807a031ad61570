"""What the LiteLLM plug-in adds to a call: a ``litellm.Router`` over a fake
OpenAI-compatible backend on loopback, plain (its default routing) and routed by the
selector (:mod:`model_selector_gateway.litellm`, with its feedback callback), against a
bare ``POST /v1/route`` through the async client in the same run. Calls are sequential,
in alternating rounds, so that drift on a shared machine hits every variant; the figure
that matters is the added p50 against the bare route's.

    .venv/bin/python bench/litellm_overhead.py [--calls 400] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import litellm  # noqa: E402
from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER  # noqa: E402
from model_selector_gateway import AsyncSelectorClient  # noqa: E402
from model_selector_gateway.litellm import install, uninstall  # noqa: E402

from bench.common import CONVERSATION, Section  # noqa: E402
from bench.http_throughput import free_port, start  # noqa: E402

MODELS = ("gemini-2.5-flash-lite", "gpt-5")  # two models of the default catalog
MESSAGES = [{"role": r, "content": c} for r, c in CONVERSATION]


def _router(backend: str) -> Any:
    deployment = {"api_base": backend, "api_key": "unused"}
    return litellm.Router(
        model_list=[
            {"model_name": "support", "litellm_params": {"model": f"openai/{m}", **deployment}}
            for m in MODELS
        ]
    )


async def _timed(call: Callable[[int], Awaitable[object]], n: int, out: list[float]) -> None:
    for i in range(n):
        t0 = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - t0) * 1e3)


async def _measure(selector: str, backend: str, calls: int, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"plain": [], "routed": [], "route": []}
    async with AsyncSelectorClient(selector, timeout_s=5) as client:
        router = _router(backend)

        async def through(i: int) -> None:
            metadata = {"conversation_id": f"bench-{i % 50}"}
            await router.acompletion(model="support", messages=MESSAGES, metadata=metadata)

        async def bare(i: int) -> None:
            await client.route(f"bench-{i % 50}", MESSAGES, candidates=list(MODELS))

        async def plain(i: int) -> None:  # the same Router, without the plug-in
            await through(i)

        install(client)
        await _timed(through, 20, [])  # warm-up: connections, imports, the catalog
        for _ in range(rounds):
            uninstall()
            await _timed(plain, calls // rounds, times["plain"])
            install(client)
            await _timed(through, calls // rounds, times["routed"])
            await _timed(bare, calls // rounds, times["route"])
        await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), 30)
        uninstall()
    return times


def _p(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100)[int(q) - 1], 2)


def run(calls: int = 400, rounds: int = 4) -> Section:
    with tempfile.TemporaryDirectory() as tmp:
        llm_port, sel_port = free_port(), free_port()
        uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
        backend = start([*uvicorn, "--port", str(llm_port), "bench.fake_llm:app"], {}, llm_port)
        selector = start(
            [sys.executable, "-m", "selector", "serve", "--port", str(sel_port)],
            {"SELECTOR_DB_PATH": str(Path(tmp) / "bench.db"), "SELECTOR_LOG_LEVEL": "warning"},
            sel_port,
        )
        try:
            times = asyncio.run(
                _measure(
                    f"http://127.0.0.1:{sel_port}", f"http://127.0.0.1:{llm_port}/v1", calls, rounds
                )
            )
        finally:
            for proc in (backend, selector):
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=15)
    rows = [
        {"variant": v, "calls": len(t), "p50_ms": _p(t, 50), "p99_ms": _p(t, 99)}
        for v, t in times.items()
    ]
    by = {r["variant"]: r for r in rows}
    added = round(by["routed"]["p50_ms"] - by["plain"]["p50_ms"], 2)
    ratio = round(added / by["route"]["p50_ms"], 2)
    label = {
        "plain": "Router, its own routing (baseline)",
        "routed": "Router routed by the selector, with its feedback callback",
        "route": "bare `POST /v1/route` (async client)",
    }
    lines = [
        "| call | calls | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        *(
            f"| {label[r['variant']]} | {r['calls']} | {r['p50_ms']} | {r['p99_ms']} |"
            for r in rows
        ),
        "",
        f"The plug-in adds {added} ms to a call's p50: {ratio}× a bare route call's p50.",
    ]
    rows.append({"variant": "added", "p50_ms": added, "ratio_to_route_p50": ratio})
    return Section(
        "litellm_overhead", "LiteLLM plug-in: latency added to a call", "\n".join(lines), rows
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=400, help="calls per variant")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    args = ap.parse_args()
    print(run(args.calls, args.rounds).markdown)


if __name__ == "__main__":
    main()
