"""The soak's load: open-loop decisions and feedback against a real server, with samples
of its memory, waiting decisions and learning over time."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))

RATE = float(os.environ.get("SOAK_RATE", "100"))  # decisions per second
WINDOW_S = float(os.environ.get("SOAK_WINDOW_S", "86400"))  # the join window
KNOWN = {"route 200", "feedback 202", "bad 422", "duplicate"}  # answers expected

MESSAGES = [
    "Where is my card? I ordered it two weeks ago",
    "I was charged twice for the same purchase, please refund one",
    "How do I change my address",
    "My transfer to another account has not arrived",
    "Can I get a refund for this subscription",
    "Why was my card declined at the shop",
]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1)) / 1024


def gauge(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", metrics, re.M)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


class Load:
    """What the soak sent and what the server acknowledged."""

    def __init__(self, c: httpx.AsyncClient, pid: int, db: Path) -> None:
        self.c, self.pid, self.db = c, pid, db
        self.codes: Counter[str] = Counter()
        self.acked_decisions: set[str] = set()
        self.acked_events: set[tuple[str, str]] = set()
        self.samples: list[dict[str, float]] = []

    async def conversation(self, i: int, resend: bool, bad: bool, outcome: bool) -> None:
        c, codes = self.c, self.codes
        if bad:
            r = await c.post(
                "/v1/route",
                content=b'{"conversation_id": "x", "messages": [',
                headers={"Content-Type": "application/json"},
            )
            codes[f"bad {r.status_code}"] += 1
            return
        body = {
            "conversation_id": f"soak-{i}",
            "messages": [{"role": "user", "content": MESSAGES[i % len(MESSAGES)]}],
        }
        r = await c.post("/v1/route", json=body)
        codes[f"route {r.status_code}"] += 1
        if r.status_code != 200:
            return
        did = r.json()["decision_id"]
        self.acked_decisions.add(did)
        events = [{"latency_ms": 300.0 + i % 2000, "completion_tokens": 200}]
        if outcome:
            events.append({"resolved": i % 5 != 0})
        for ev in events * (2 if resend else 1):
            f = await c.post("/v1/feedback", json={"decision_id": did, **ev})
            codes[f"feedback {f.status_code}"] += 1
            if f.status_code == 202:
                self.acked_events.add((did, json.dumps(ev, sort_keys=True)))
                codes["duplicate"] += bool(f.json().get("duplicate"))

    async def sample(self, t: float) -> None:
        m = (await self.c.get("/metrics")).text
        wal = self.db.with_name(self.db.name + "-wal")
        self.samples.append(
            {
                "t": t,
                "rss_mb": rss_mb(self.pid),
                "waiting": waiting(self.db),
                "updates": gauge(m, "selector_online_updates"),
                "lag_events": gauge(m, "selector_online_lag_events"),
                "wal_mb": wal.stat().st_size / 2**20 if wal.exists() else 0.0,
            }
        )


async def drive(url: str, pid: int, db: Path) -> dict[str, Any]:
    """Open-loop load: a decision every 1/RATE s, whatever the answers' speed; each gets
    a call result, 70 % an outcome, 2 % a resent event, 1 % a malformed request."""
    rng = random.Random(0)
    tasks: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as c:
        load = Load(c, pid, db)
        start = time.monotonic()
        i, next_sample = 0, 0.0
        while (now := time.monotonic() - start) < SECONDS:
            if now >= next_sample:
                await load.sample(now)
                next_sample += 10.0
            while i < int(now * RATE):
                t = asyncio.create_task(
                    load.conversation(
                        i, rng.random() < 0.02, rng.random() < 0.01, rng.random() < 0.7
                    )
                )
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                i += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
        await asyncio.sleep(2.0)  # the learner's next round
        await load.sample(time.monotonic() - start)
    return {
        "sent": i,
        "seconds": SECONDS,
        "codes": dict(load.codes),
        "acked_decisions": load.acked_decisions,
        "acked_events": load.acked_events,
        "samples": load.samples,
    }


def waiting(db: Path) -> float:
    """Decisions in their join window without an outcome: what the online layer would
    have to hold if it kept their call results in memory."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        found = conn.execute(
            "SELECT COUNT(*) FROM decisions d WHERE NOT EXISTS "
            "(SELECT 1 FROM outcomes o WHERE o.decision_id = d.decision_id) AND d.ts > ?",
            (time.time() - WINDOW_S,),
        ).fetchone()
    return float(found[0])
