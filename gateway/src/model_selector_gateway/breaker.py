"""The client's circuit breaker: after ``failures`` calls in a row that could not be
answered (unreachable, too slow, 5xx, an unusable body), the client stops calling the
service for ``cooldown_s`` and answers at once without it; then it lets one call through
as a probe. The probe's success closes the breaker, its failure opens it for another
cool-down. A refusal (4xx) is an answer: the service is up.

So a dead or mute selector costs a gateway a few budgets, not one on every call. Each
change of state is logged once (``selector.client``, WARNING when it opens, INFO
otherwise).

>>> now = [0.0]
>>> b = Breaker(failures=2, cooldown_s=5, clock=lambda: now[0])
>>> b.failed(); b.failed(); b.state
'open'
>>> b.admit()
False
>>> now[0] = 5.0
>>> b.admit(), b.state, b.admit()   # one probe; the others still wait
(True, 'half-open', False)
>>> b.succeeded(); b.state
'closed'
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Breaker"]

log = logging.getLogger("selector.client")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class Breaker:
    """Thread-safe; shared by the sync and async calls of one client. ``failures=0``
    turns it off (every call goes to the service)."""

    def __init__(
        self,
        failures: int = 3,
        cooldown_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "selector",
    ) -> None:
        if failures < 0:
            raise ValueError(f"breaker_failures must be 0 (no breaker) or more, not {failures!r}")
        if not cooldown_s > 0:
            raise ValueError(f"breaker_cooldown_s must be a positive number, not {cooldown_s!r}")
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.name = name
        self._lock = threading.Lock()
        self._state = CLOSED
        self._in_a_row = 0
        self._opened_at = 0.0
        self._probe_since: float | None = None
        self.opened = 0  # how many times it opened, for tests and metrics

    @property
    def state(self) -> str:
        """``closed`` (calls go through), ``open`` (calls answered without the service) or
        ``half-open`` (one probe in flight)."""
        return self._state

    def _move(self, state: str, why: str) -> None:
        if state == self._state:
            return
        self._state = state
        level = logging.WARNING if state == OPEN else logging.INFO
        log.log(level, "%s breaker %s: %s", self.name, state, why)

    def admit(self) -> bool:
        """May a call go to the service now? While open, after the cool-down, the first
        caller is admitted as the probe (a probe that never reports back is replaced
        after another cool-down)."""
        if self.failures == 0:
            return True
        with self._lock:
            if self._state == CLOSED:
                return True
            now = self.clock()
            if self._state == OPEN and now - self._opened_at >= self.cooldown_s:
                self._probe_since = now
                self._move(HALF_OPEN, f"cool-down of {self.cooldown_s:g} s over, one probe")
                return True
            if self._state == HALF_OPEN and (
                self._probe_since is None or now - self._probe_since >= self.cooldown_s
            ):
                self._probe_since = now
                return True
            return False

    def succeeded(self) -> None:
        """The service answered (a decision, an acknowledgement or a refusal)."""
        if self.failures == 0:
            return
        with self._lock:
            self._in_a_row = 0
            self._probe_since = None
            self._move(CLOSED, "the service answered")

    def failed(self) -> None:
        """The call could not be answered."""
        if self.failures == 0:
            return
        with self._lock:
            self._in_a_row += 1
            if self._state == HALF_OPEN or self._in_a_row >= self.failures:
                self._opened_at = self.clock()
                self._probe_since = None
                if self._state != OPEN:
                    self.opened += 1
                why = (
                    "the probe failed"
                    if self._state == HALF_OPEN
                    else f"{self._in_a_row} calls in a row failed"
                )
                self._move(
                    OPEN, f"{why}; calls answered without the service for {self.cooldown_s:g} s"
                )
