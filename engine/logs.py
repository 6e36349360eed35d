"""Structured JSON logs on stderr; message ids and correlation ids, never bodies."""

from __future__ import annotations

import json
import logging
import sys
import time

_FIELDS = ("message_id", "correlation_id", "channel", "destination")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "info") -> None:
    """Send JSON logs to stderr at the given level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def loggable(error: object) -> str:
    """What of an error may be logged: its kind and where, never the content it quotes.

    Error texts can quote field values or a peer's response body (PHI); the whole text is
    kept with the message in the store, the log line gets only this summary.
    """
    from .errors import MessageError

    if isinstance(error, MessageError):
        where = f" at {error.location}" if error.location else ""
        return f"{type(error).__name__}{where} (details in the message store)"
    head = str(error).partition(": ")[0]
    return head[:200]
