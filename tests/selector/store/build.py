"""Decision records to write, a clock the test moves, feedback sent from a thread."""

from __future__ import annotations

import time
from typing import Any

from selector.store import DecisionRecord, FeedbackEvent, LoggedRequest, SQLiteLog


def record(did: str, ts: float = 1_000.0, model: str = "gpt-5") -> DecisionRecord:
    return DecisionRecord(
        decision_id=did,
        ts=ts,
        conversation_id="c",
        policy="utility-v0",
        policy_version="0.1",
        model=model,
        propensity=1.0,
        fallbacks=["gpt-5-mini"],
        relaxed=[],
        request=LoggedRequest(turns=3),
        features={"request": [1.0], "candidates": [model], "candidate_rows": [[0.0]]},
        scores=[{"model": model}],
        text="hello",
    )


class Clock:
    t = 1_000.0

    def __call__(self) -> float:
        return self.t


def fb(log: SQLiteLog, did: str, **fields: object):  # type: ignore[no-untyped-def]
    return log.submit_feedback(FeedbackEvent(did, dict(fields))).result(timeout=5)


def a_record_no_write_can_take(store: Any) -> None:
    """In one batch with two good events, a record that breaks the write itself (not the
    database: here an outcome that is no mapping) is refused with the reason, the good
    ones are stored, and the writer goes on (it neither dies nor leaves anyone waiting)."""
    import asyncio

    from core.errors import StoreError
    from selector.store import ConversationOutcome, FeedbackEvent

    store.submit_decision(record("d1", ts=time.time())).result(timeout=10)

    async def run() -> list[Any]:
        return list(
            await asyncio.gather(
                store.write_feedback(FeedbackEvent("d1", {"latency_ms": 5.0})),
                store.write_conversation_outcome(ConversationOutcome("c", True)),  # type: ignore[arg-type]
                store.write_feedback(FeedbackEvent("d1", {"resolved": True})),
                return_exceptions=True,
            )
        )

    first, bad, second = asyncio.run(run())
    assert isinstance(bad, StoreError)
    assert "AttributeError" in str(bad)
    assert not first.duplicate
    assert not second.duplicate
    assert store.counts() == {"decisions": 1, "feedback": 2, "outcomes": 1}
    store.submit_decision(record("d2", ts=time.time())).result(timeout=10)
