"""The walk of one warmed ``POST /v1/route`` and one ``POST /v1/feedback`` through the
project's code: the files and functions each one calls, in order, and how often the
walk switches file (what a reader follows to understand a request).

The app runs in process with its service started (the default settings on a SQLite log
in a temporary folder, the prior as quality model); twenty routes warm it, then one
route and one feedback event are traced with :func:`sys.setprofile`.

    .venv/bin/python bench/request_walk.py [--quality-model PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

__all__ = ["Walk", "walks"]

BODY = {
    "conversation_id": "walk",
    "messages": [{"role": "user", "content": "I was charged twice for my card"}],
    "intent": "card_arrival",
}
_PROJECT = ("core", "features", "models", "selector")


@dataclass
class Walk:
    """The project files one request passes through, in the order it enters them."""

    path: str
    order: list[str] = field(default_factory=list)
    functions: set[tuple[str, str]] = field(default_factory=set)

    def enter(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        name = Path(frame.f_code.co_filename)
        try:
            rel = name.relative_to(ROOT).as_posix()
        except ValueError:
            return
        if rel.split("/")[0] not in _PROJECT:
            return
        self.functions.add((rel, frame.f_code.co_name))
        if not self.order or self.order[-1] != rel:
            self.order.append(rel)

    @property
    def files(self) -> list[str]:
        return sorted(set(self.order))

    def summary(self) -> str:
        return (
            f"{self.path}: {len(self.files)} files, {len(self.functions)} functions, "
            f"{len(self.order) - 1} switches of file"
        )


def walks(quality_model: str = "prior") -> list[Walk]:
    """The walks of a warmed route and of a feedback event on its decision."""
    from selector.api.app import create_app
    from selector.config import load_settings
    from selector.wiring import build_service

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            db_path=Path(tmp) / "walk.db",
            quality_model=quality_model,
            mlflow_tracking_uri=f"sqlite:///{tmp}/registry.db",
        )
        service = build_service(settings)
        service.start()
        try:
            app = create_app(service=service)
            app.state.service = service
            return asyncio.run(_traced(app))
        finally:
            service.stop()


async def _traced(app: Any) -> list[Walk]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        for _ in range(20):
            (await c.post("/v1/route", json=BODY)).raise_for_status()
        out = []
        route = Walk("POST /v1/route")
        sys.setprofile(route.enter)
        answer = await c.post("/v1/route", json=BODY)
        sys.setprofile(None)
        answer.raise_for_status()
        out.append(route)
        event = {"decision_id": answer.json()["decision_id"], "latency_ms": 800, "resolved": True}
        feedback = Walk("POST /v1/feedback")
        sys.setprofile(feedback.enter)
        (await c.post("/v1/feedback", json=event)).raise_for_status()
        sys.setprofile(None)
        out.append(feedback)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quality-model", default="prior", help="a model folder or models:/ URI")
    args = ap.parse_args()
    for walk in walks(args.quality_model):
        print(walk.summary())
        for f in walk.files:
            print(f"    {f}")
        print("    order: " + " > ".join(p.rsplit("/", 1)[-1] for p in walk.order))


if __name__ == "__main__":
    main()
