"""The simulated support world and the incident replay: scenarios
(:mod:`simulator.scenario`), the world (:mod:`simulator.world`), the gateway replay
(:mod:`simulator.replay`), ``selector demo`` (:mod:`simulator.demo`), the online layer's
measurements (:mod:`simulator.online_eval`), generated worlds (:mod:`simulator.generated_worlds`)
and the selector measured in them (:mod:`simulator.online_eval.worlds`), and their commands
(:mod:`simulator.cli`).

Each name below is imported from its module when first used."""

from __future__ import annotations

from typing import Any

from core.lazy import load

_EXPORTS = {
    "Scenario": "simulator.scenario",
    "load_scenario": "simulator.scenario",
    "measure_online": "simulator.online_eval",
    "measure_worlds": "simulator.online_eval.worlds",
    "run_demo": "simulator.demo",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load(__name__, _EXPORTS, name)
