"""Logging for ``constellation serve``: one line per record, as JSON or as readable text.

The application logs requests on ``constellation_server.access`` and execution outcomes on
``constellation_server.executions`` with ``extra={"event": {...}}``. The JSON format prints
each record as one object (``time``, ``level``, ``logger``, ``message`` and the event's fields);
the text format prints a readable line. Both redact bearer tokens, so a key that reaches a
message by accident never reaches the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]

#: The loggers ``setup_logging`` configures; everything else goes through the root logger.
ACCESS_LOGGER = "constellation_server.access"
EXECUTIONS_LOGGER = "constellation_server.executions"
SERVE_LOGGER = "constellation_server.serve"

# Fields a formatter writes itself: an event cannot overwrite them.
_RESERVED = ("time", "level", "logger", "message")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def redact(text: str) -> str:
    """``text`` with every ``Bearer <token>`` replaced by ``Bearer [redacted]``."""
    return _BEARER.sub(r"\1[redacted]", text)


def _event_of(record: logging.LogRecord) -> Mapping[str, object]:
    event = getattr(record, "event", None)
    return event if isinstance(event, Mapping) else {}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in _event_of(record).items():
            if key not in _RESERVED:
                body[str(key)] = value
        if record.exc_info:
            body["exception"] = redact(self.formatException(record.exc_info))
        # default=str: an event value the app did not make JSON-ready must not lose the line.
        return redact(json.dumps(body, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """``time level logger message``, plus the request id when the message lacks it."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        request_id = _event_of(record).get("requestId")
        if isinstance(request_id, str) and request_id and request_id not in message:
            message = f"{message} [{request_id}]"
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def setup_logging(
    log_format: LogFormat, level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send every record of the process to ``stream`` (stderr) in ``log_format``.

    Replaces the root logger's handlers, so calling it twice does not double the lines.
    Returns the handler (a test or an embedding program may remove it).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Tornado's own access log would duplicate the application's structured one.
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    return handler
