"""What every group of settings shares: its variables' names, finite numbers, no
unknown name; and the checks more than one group uses."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Group", "a_file", "comma_separated", "host_name", "loopback"]


class Group(BaseModel):
    """A group of settings: every float finite, no unknown name."""

    # ``inf`` or ``nan`` is refused with the variable's name
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=False)

    PREFIX: ClassVar[str] = ""
    ENV: ClassVar[dict[str, str]] = {}  # names whose variable is not PREFIX + name

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of setting ``name``, without ``SELECTOR_``."""
        return cls.ENV.get(name, cls.PREFIX + name)


def comma_separated(v: object) -> object:
    """A setting's comma-separated value as a set of its stripped, non-empty parts."""
    if isinstance(v, str):
        return frozenset(p.strip() for p in v.split(",") if p.strip())
    return v


def a_file(v: Path) -> Path:
    if v.is_dir():
        raise ValueError(f"{v} is a folder: give the path of a file (made when missing)")
    return v


def host_name(value: str) -> str:
    """The name in a Host header's value (or a setting's), lower case, without its port,
    the brackets of an IPv6 address, or a final dot.

    >>> [host_name(v) for v in ("LocalHost:8080", "[::1]:8080", "::1", "api.example.", "x")]
    ['localhost', '::1', '::1', 'api.example', 'x']
    """
    v = value.strip().lower()
    if v.startswith("["):
        v = v[1 : v.find("]")] if "]" in v else v[1:]
    elif v.count(":") == 1:
        v = v.partition(":")[0]
    return v.rstrip(".")


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
