"""Helpers shared by the benchmarks: percentiles, the machine, the sample request, and
the results each benchmark returns (a :class:`Section`: a Markdown table and its rows)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

CONVERSATION = [
    ("system", "You are the support assistant of a retail bank. Be brief and precise."),
    ("user", "Hi, I have a question about my card"),
    ("assistant", "Of course, what would you like to know about your card?"),
    ("user", "I ordered a new one two weeks ago and it still has not arrived"),
    ("assistant", "I'm sorry about the delay. Could you confirm the address we sent it to?"),
    ("user", "Yes it's the same address as always. Where is my card? I need it for a trip"),
]


def percentiles_us(samples_ns: list[int]) -> dict[str, float]:
    a = np.asarray(samples_ns, dtype=np.float64) / 1_000.0
    return {
        "p50_us": round(float(np.percentile(a, 50)), 1),
        "p99_us": round(float(np.percentile(a, 99)), 1),
        "mean_us": round(float(a.mean()), 1),
    }


def machine() -> str:
    """The CPU, cores, memory and Python the figures were measured with."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        memory = f", {gib:.0f} GiB"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


@dataclass
class Section:
    """One benchmark's results: a Markdown table (each figure beside its baseline) and
    the same figures as JSON-ready rows."""

    name: str
    title: str
    markdown: str
    rows: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"benchmark": self.name, "title": self.title, "rows": self.rows}


def write_report(
    name: str, sections: list[Section], seconds: float | None = None, folder: Path = RESULTS
) -> Path:
    """Write ``<folder>/<name>.md`` and ``.json`` with every section, the machine and the
    time; print the Markdown. Returns the Markdown file."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    body = {
        "when": stamp,
        "machine": machine(),
        "seconds": None if seconds is None else round(seconds),
        "sections": [s.as_json() for s in sections],
    }
    (folder / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
    md = "\n\n".join(f"**{s.title}**\n\n{s.markdown}" for s in sections)
    md += f"\n\n_Measured on {machine()}, {stamp}._\n"
    path = folder / f"{name}.md"
    path.write_text(md)
    print(md)
    print(f"(written to {path} and {name}.json)")
    return path


def run_alone(section: Section) -> None:
    """What a benchmark script run on its own does with its section."""
    write_report(section.name, [section])
