"""The online layer's state kept in the shared log (table ``online_snapshots``), for
replicas: every replica folds the same log in the same order, so the states saved at one
cursor are the same, and the table keeps, per configuration, the one that has read
furthest. A replica starting (or restarted) takes it and reads only what follows. The
state is stored as its canonical JSON beside its SHA-256 and refused (the log is then
replayed) when they disagree."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from selector.online.state import STATE_VERSION, StateError, body_of
from selector.store.postgres.reader import connect, where

__all__ = ["SnapshotTable"]

_WRITE = """
INSERT INTO online_snapshots VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (config_sha256) DO UPDATE SET cursor_xid = excluded.cursor_xid,
    cursor_seq = excluded.cursor_seq, state = excluded.state, sha256 = excluded.sha256,
    saved_at = excluded.saved_at
WHERE (excluded.cursor_xid, excluded.cursor_seq)
    > (online_snapshots.cursor_xid, online_snapshots.cursor_seq)
"""
_READ = "SELECT state, sha256 FROM online_snapshots WHERE config_sha256 = %s"


def _config_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(body_of(config).encode()).hexdigest()


class SnapshotTable:
    """The online layer's saved state in the PostgreSQL log at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = f"the snapshots of {where(url)}"

    def read(self, config: dict[str, Any]) -> dict[str, Any]:
        with connect(self.url) as conn:
            found = conn.execute(_READ, (_config_key(config),)).fetchone()
        if found is None:
            raise StateError(f"no state saved under this configuration in {self.where}")
        body, digest = found
        if hashlib.sha256(body.encode()).hexdigest() != digest:
            raise StateError(f"the state in {self.where} fails its checksum")
        state: dict[str, Any] = json.loads(body)
        if state.get("version") != STATE_VERSION:
            raise StateError(f"the state in {self.where} has version {state.get('version')}")
        return state

    def write(self, state: dict[str, Any]) -> None:
        """Keep ``state`` unless one saved under its configuration has read further."""
        body = body_of(state)
        xid, seq = state["cursor"]
        row = (_config_key(state["config"]), xid, seq, body,
               hashlib.sha256(body.encode()).hexdigest(), time.time())  # fmt: skip
        with connect(self.url) as conn:
            conn.execute(_WRITE, row)

    def cursor(self) -> Any:
        """The furthest cursor saved under any configuration (None: none saved)."""
        with connect(self.url) as conn:
            found = conn.execute(
                "SELECT cursor_xid, cursor_seq FROM online_snapshots "
                "ORDER BY cursor_xid DESC, cursor_seq DESC LIMIT 1"
            ).fetchone()
        return None if found is None else [int(found[0]), int(found[1])]
