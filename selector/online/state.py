"""The online layer's saved state: a JSON file written atomically with its SHA-256. A
file that is missing, corrupt, fails its checksum or has another version is refused
with a :class:`StateError` saying why (the log is then replayed instead)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "STATE_VERSION",
    "StateError",
    "StateFile",
    "StateStore",
    "body_of",
    "read",
    "saved_cursor",
    "write",
]

STATE_VERSION = 3  # 3: late and failed calls are not learned (selector.reward)


class StateError(ValueError):
    """A saved state that cannot be used (the message says why); the log is replayed."""


class StateStore(Protocol):
    """Where the online layer's state is saved: a file (:class:`StateFile`), or the
    shared log's table of snapshots (PostgreSQL)."""

    where: str

    def read(self, config: dict[str, Any]) -> dict[str, Any]:
        """The state saved under ``config``; a StateError says why there is none usable."""
        ...

    def write(self, state: dict[str, Any]) -> None: ...

    def cursor(self) -> Any:
        """How far the saved state has read the log (None: nothing saved)."""
        ...


class StateFile:
    """The state in a JSON file at ``path``, written atomically with its SHA-256."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def read(self, config: dict[str, Any]) -> dict[str, Any]:
        return read(self.path)

    def write(self, state: dict[str, Any]) -> None:
        write(self.path, state)

    def cursor(self) -> Any:
        return saved_cursor(self.path)


def body_of(state: dict[str, Any]) -> str:
    """The state as the canonical JSON its checksum is of."""
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def write(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically, with its SHA-256, to ``path`` (fsynced)."""
    body = body_of(state)
    digest = hashlib.sha256(body.encode()).hexdigest()
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(f'{{"sha256":"{digest}","state":{body}}}\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read(path: Path) -> dict[str, Any]:
    """The state saved at ``path``, checked against its checksum and version."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        state: dict[str, Any] = raw["state"]
        body = body_of(state)
    except FileNotFoundError as exc:
        raise StateError(f"no saved state at {path}") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{path} is not a saved state: {exc}") from exc
    if hashlib.sha256(body.encode()).hexdigest() != raw.get("sha256"):
        raise StateError(f"{path} fails its checksum: the file is corrupt or was changed")
    if state.get("version") != STATE_VERSION:
        raise StateError(f"{path} has state version {state.get('version')}")
    return state


def saved_cursor(path: Path) -> Any:
    """How far the online layer saved at ``path`` has read the log: None when there is no
    saved state, 0 when it cannot be read (then nothing it might not have read is pruned)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))["state"]["cursor"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0
