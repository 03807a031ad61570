"""``selector measure-online``: the online layer measured against the simulator's truth.

One offline model is trained on the calm world's history (as ``selector demo`` does),
then each experiment replays a day through the service on loopback:

- **latency cliff** (scenario ``cliff``): the model the online layer used most before
  10:00 turns slower (at least ×4, enough for its p95 to reach 1.5 × the deadline);
  its traffic share is compared, decision by decision, with the share the oracle would
  give it *on the same turns under the same load* (its new optimum), over a sliding
  window of decisions. Measured: decisions after the change until the share is within
  the tolerance of the optimum.
- **quality regression** (scenario ``regression``): the model the online layer used
  most on payment questions answers them 30 points worse from 14:00; the same
  comparison on that group's turns, counted in feedback events (call results and
  outcomes) the gateway sent after the change.
- **stationary world** (scenario ``calm``): reward per conversation with the online
  layer against the greedy offline policy (``utility-v0``) on the same day.
- **propensities**: the calm day's logged probabilities against the choices made, by a
  χ² test per model (covariance of the multinomial draws, :func:`propensity_test`).

Both selectors run every experiment, so the report shows what the online layer adds.

The package: :mod:`~simulator.online_eval.experiments` (the days replayed),
:mod:`~simulator.online_eval.measures` (adaptation, propensities),
:mod:`~simulator.online_eval.coverage` (OPE's intervals), :mod:`~simulator.online_eval.report`.
"""

from __future__ import annotations

from simulator.online_eval.coverage import dr_coverage
from simulator.online_eval.experiments import Watched, measure_online
from simulator.online_eval.measures import adaptation, propensity_test
from simulator.online_eval.report import checks

__all__ = ["Watched", "adaptation", "checks", "dr_coverage", "measure_online", "propensity_test"]
