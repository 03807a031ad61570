"""The service's logs: the standard library's ``logging``, configured once.

- **JSON lines** (one object per line: ``ts``, ``level``, ``logger``, ``message``,
  ``request_id`` when the line belongs to a request, the event's own fields, and
  ``exc`` with the traceback) when the output is not a terminal, or with
  ``SELECTOR_LOG_FORMAT=json``;
- **readable text** on a terminal, or with ``SELECTOR_LOG_FORMAT=text``.

The request id is the caller's ``X-Request-ID`` (or one made for the request), set by
the HTTP edge for the time of the request (:data:`REQUEST_ID`), so every line logged
while a request is served carries it. Uvicorn's own loggers go through the same
handler, and so do MLflow's (which would otherwise install a handler of its own). Fields
of an event are passed as ``extra={...}``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

__all__ = ["REQUEST_ID", "JsonFormatter", "TextFormatter", "configure_logging"]

#: the id of the request being served on this task, if any
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# attributes every LogRecord has: anything else on a record is an event field
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "request_id", "color_message", "taskName"}
)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    d = record.__dict__
    return {k: d[k] for k in d.keys() - _STANDARD}


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds; the date and time of a second formatted once
    (an access log writes thousands of lines a second)."""
    whole = int(created)
    if _second[0] != whole:
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int(created % 1 * 1000):03d}Z"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            out["request_id"] = rid
        out.update(_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message key=value …``, for a person."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        parts = [
            _timestamp(record.created),
            f"{record.levelname:<7}",
            record.name,
            *([f"[{rid}]"] if rid else []),
            record.getMessage(),
        ]
        fields = _fields(record)
        if fields:
            parts.append(" ".join(f"{k}={v}" for k, v in fields.items()))
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Send every logger (the service's, uvicorn's, libraries') to one handler on
    ``stream`` (stderr) in ``fmt``; called once by ``selector serve``."""
    stream = stream or sys.stderr
    # what no line shows is not collected per record (the logging HOWTO's "Optimization")
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no caller's file and line
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
        lg.setLevel(logging.NOTSET)
    # MLflow gives its loggers a handler of its own when it is imported (its lines would
    # bypass this format): not when imported later, and undone if it was imported already
    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
    for name in ("mlflow", "sqlalchemy.engine", "alembic", "huey"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # libraries that are chatty at INFO about their own internals
    for name in ("alembic", "mlflow", "urllib3", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
