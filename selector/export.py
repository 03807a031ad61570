"""Export the joined decision log (decision + call results + outcome) for training.

One row per decision. Columns: the decision (id, time, conversation, policy,
version, model, propensity, fallbacks, relaxed), the request's fields (``req_*``),
the request feature block (``f_<name>``), the decided model's candidate block
(``c_<name>``), every candidate's block as JSON (``candidate_features``), the
candidate scores as JSON, the call results joined (``served_model`` = the model of
the last call reported, ``calls``, ``errors``, ``latency_ms`` = total, tokens,
``cost_usd``), the outcome (``resolved``, ``reward``) and whether any feedback
named another model than decided (``override``). Late feedback is not joined.

The rows come from :meth:`selector.store.LogReader.joined`: one the reader cannot parse
(JSON an older build or a hand wrote differently) is left out and counted in the
``skipped`` counter the caller passes, never an error: one bad row must not stop an
export, a training run or an evaluation.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from selector.store.base import DecisionLog

__all__ = ["export_log", "write_table"]


def export_log(
    log: DecisionLog,
    out: Path,
    fmt: str | None = None,
    since: float = 0.0,
    skipped: Counter[str] | None = None,
) -> int:
    """Write the joined log to ``out`` as Parquet or CSV (from ``fmt`` or the suffix);
    the number of rows written (rows that cannot be parsed are counted in ``skipped``)."""
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in {"parquet", "csv"}:
        raise ConfigError(
            f"cannot export to {fmt!r}: use --format parquet or csv (or a .parquet/.csv path)"
        )
    with log.reader() as reader:
        rows = list(reader.joined(since, skipped))
    write_table(rows, out, fmt)
    return len(rows)


def write_table(rows: list[dict[str, Any]], out: Path, fmt: str = "parquet") -> Path:
    """Write ``rows`` to ``out`` (Parquet or CSV) through a temporary file, fsynced and
    renamed into place: a file that exists is whole."""
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame.from_records(rows)
    tmp = out.with_name(out.name + ".tmp")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return out
