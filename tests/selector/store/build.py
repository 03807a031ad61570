"""Decision records to write, a clock the test moves, feedback sent from a thread."""

from __future__ import annotations

from selector.store import DecisionLog, DecisionRecord, FeedbackEvent, LoggedRequest


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


def fb(log: DecisionLog, did: str, **fields: object):  # type: ignore[no-untyped-def]
    return log.submit_feedback(FeedbackEvent(did, dict(fields))).result(timeout=5)
