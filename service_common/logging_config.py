"""Structured logs for both servers: one JSON object per line, to stderr.

Every record carries ``ts``, ``level``, ``logger`` and ``msg``; uvicorn's access records add
``method``, ``path``, ``status`` and ``client``. Messages are written by our code, which
never puts a value, ciphertext, key or token into a log message (tests read the logs of a
full run to check); query strings are dropped from access records all the same.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    """A record as a single JSON line (exception tracebacks as one string field)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        access = _access_fields(record)
        if access is not None:
            entry["msg"] = "request"
            entry.update(access)
        else:
            entry["msg"] = record.getMessage()
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"), default=str)


def _access_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """uvicorn.access passes (client, method, path, http_version, status) as args."""
    if record.name != "uvicorn.access" or not isinstance(record.args, tuple):
        return None
    if len(record.args) != 5:
        return None
    client, method, path, _, status = record.args
    return {
        "method": method,
        "path": str(path).split("?", 1)[0],
        "status": status,
        "client": client,
    }


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn: JSON lines for every logger we use."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": ["default"], "level": upper, "propagate": False},
            "hrmon": {"handlers": ["default"], "level": upper, "propagate": False},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
