"""How the decision log hands each command's result to whoever waits for it: a thread's
:class:`~concurrent.futures.Future`, or an event loop's future (resolved a batch at a
time, with one wake-up per loop)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from contextlib import suppress
from typing import Any

__all__ = ["Waiter", "resolve"]

# a thread's Future, or an event loop and one of its futures
Waiter = Future[Any] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def resolve(results: list[tuple[Waiter, Any, BaseException | None]], on_loop: bool) -> None:
    """Hand results to their waiters: directly on the loop's own thread; from the
    writer thread, with one wake-up per event loop rather than one per result."""
    by_loop: dict[
        asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]
    ] = {}
    for waiter, value, failure in results:
        if isinstance(waiter, Future):
            if failure is None:
                waiter.set_result(value)
            else:
                waiter.set_exception(failure)
        else:
            loop, fut = waiter
            by_loop.setdefault(loop, []).append((fut, value, failure))
    for loop, items in by_loop.items():
        if on_loop:
            _settle(items)
        else:
            with suppress(RuntimeError):  # the loop closed while we wrote
                loop.call_soon_threadsafe(_settle, items)


def _settle(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, value, failure in items:
        if fut.done():  # the request was cancelled (client went away)
            continue
        if failure is None:
            fut.set_result(value)
        else:
            fut.set_exception(failure)
