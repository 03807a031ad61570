"""Retention of the decision log: decisions older than an age leave it, archived first.

``selector prune`` runs it by hand; the service runs it every ``SELECTOR_PRUNE_EVERY_S``
with ``SELECTOR_RETENTION_DAYS`` (0: keep everything). A decision leaves the log with
its feedback, outcome and challenger decision, in batches (one short transaction each,
so decisions and feedback keep being acknowledged meanwhile). With archiving on (the
default), each batch is first written to two Parquet files in the archive folder and
fsynced, so nothing is lost:

- ``decisions-<first id>-<last id>.parquet``: the joined rows ``selector export-log``
  writes, one per decision: a training source as they are
  (``selector train --source <file>``);
- ``raw-<first id>-<last id>.parquet``: every row of the four tables as stored
  (``table``, ``rowid``, ``decision_id``, ``row`` as JSON), rows the joined form could
  not parse included.

What stays: a decision whose feedback the online layer has not read yet (it is pruned
by a later run), and the newest feedback row (the log's row ids must keep growing for
the online layer's cursor). A replay of the log (``selector bandit --replay``) then
covers only the decisions kept; the saved state of the online layer keeps what was
learned from the rest. Training and off-policy evaluation read what the log keeps,
plus any archive passed as a source.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from selector.export import write_table
from selector.store import LogReader, id_prefix
from selector.store.base import DecisionLog

__all__ = ["PruneResult", "prune"]

log = logging.getLogger(__name__)

_BATCH = 20_000


@dataclass
class PruneResult:
    """What a retention run removed and wrote."""

    cutoff: float  # Unix time: decisions made before it were due
    decisions: int = 0
    feedback: int = 0
    kept_unread: int = 0  # due, but kept: the online layer has not read all their feedback
    archived: list[Path] = field(default_factory=list)
    unreadable: int = 0  # archived raw only: the joined form could not parse them

    def summary(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.cutoff))
        out = (
            f"pruned {self.decisions:,} decisions made before {when} UTC and "
            f"{self.feedback:,} feedback events"
        )
        if self.archived:
            out += f"; archived to {len(self.archived)} Parquet files in {self.archived[0].parent}"
        if self.kept_unread:
            out += f"; kept {self.kept_unread:,} whose feedback the online layer has not read yet"
        return out


def prune(
    decision_log: DecisionLog,
    older_than_s: float,
    archive_dir: Path | None,
    learned_through: Any = None,
    now: float | None = None,
    batch: int = _BATCH,
    progress: Callable[[str], None] = lambda _m: None,
) -> PruneResult:
    """Remove the decisions of ``decision_log`` made more than ``older_than_s`` before
    ``now``, archiving them to ``archive_dir`` first (None: delete only). Feedback rows
    after ``learned_through`` (the online layer's cursor; None: no online layer) stay,
    and so do their decisions."""
    if older_than_s <= 0:
        raise ValueError("older_than_s must be > 0")
    cutoff = (time.time() if now is None else now) - older_than_s
    result = PruneResult(cutoff)
    due_below = id_prefix(cutoff)
    after = ""
    with decision_log.reader() as reader:
        while ids := reader.due(after, due_below, batch):
            after = ids[-1]
            safe = reader.prunable_through(learned_through)
            blocked = reader.with_feedback_after(ids[0], ids[-1], safe)
            gone = [d for d in ids if d not in blocked]
            result.kept_unread += len(ids) - len(gone)
            if not gone:
                continue
            if archive_dir is not None:
                result.archived.extend(_archive(reader, gone, archive_dir, result))
            result.feedback += decision_log.delete(gone)
            result.decisions += len(gone)
            progress(f"{result.decisions:,} decisions pruned")
    if result.decisions:
        log.info(
            result.summary(),
            extra={"pruned_decisions": result.decisions, "pruned_feedback": result.feedback},
        )
    return result


def _archive(reader: LogReader, ids: list[str], folder: Path, result: PruneResult) -> list[Path]:
    """Write ``ids`` in the joined and the raw form; both files are on disk (fsynced)
    before this returns."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{ids[0]}-{ids[-1]}"
    wanted = set(ids)
    skipped: Counter[str] = Counter()
    joined = [
        r
        for r in reader.joined(skipped=skipped, id_range=(ids[0], ids[-1]))
        if r["decision_id"] in wanted
    ]
    result.unreadable += len(wanted) - len(joined)
    written = []
    if joined:
        try:
            written.append(write_table(joined, folder / f"decisions-{stem}.parquet"))
        except (ValueError, TypeError, ArithmeticError) as exc:  # mixed types in a column
            log.warning("batch %s kept in the raw form only: %s", stem, exc)
            result.unreadable += len(joined)
    raw = [
        {
            "table": table,
            "rowid": rowid,
            "decision_id": row["decision_id"],
            "row": orjson.dumps(row, default=_blob).decode(),
        }
        for table, rowid, row in reader.raw_rows(ids[0], ids[-1])
        if row["decision_id"] in wanted
    ]
    written.append(write_table(raw, folder / f"raw-{stem}.parquet"))
    _fsync_dir(folder)
    return written


def _blob(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    raise TypeError(f"cannot archive a {type(v).__name__}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
