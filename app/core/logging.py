"""Log lines on stderr, each carrying the request id: JSON for collectors, text for people."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from app.core.request_context import current_request_id

LogFormat = Literal["auto", "json", "text"]
_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",  # uvicorn's coloured copy of the message
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": current_request_id(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`12:00:01 INFO  app.errors: message key=value [request id]`, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created).astimezone().strftime("%H:%M:%S")
        parts = [f"{at} {record.levelname:<5} {record.name}: {record.getMessage()}"]
        parts += [f"{key}={value}" for key, value in _extras(record).items()]
        request_id = current_request_id()
        if request_id != "-":  # outside a request
            parts.append(f"[{request_id}]")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def wants_text(log_format: LogFormat, *, stream: Any = None) -> bool:
    """`auto` means text when the stream (stderr) is a terminal a person reads."""
    if log_format != "auto":
        return log_format == "text"
    isatty = getattr(stream or sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def configure_logging(level: str = "INFO", log_format: LogFormat = "auto") -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = wants_text(log_format, stream=sys.stderr)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our middleware writes one access line per request, with the request id.
    logging.getLogger("uvicorn.access").disabled = True
