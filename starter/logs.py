"""Structured logs for the worker and the API: one JSON object per line.

``configure_logging`` is called at the edges (``worker.main()``, the API's app factory)
and, like ``logging.basicConfig``, does nothing when the process has configured logging
already (pytest, an embedding application), so it never overrides what is there.

Each line carries the time, level, logger, the message, the component, and in the API
the request id of the call being served (``REQUEST_ID``, set by
``api.observability``). Fields passed as ``extra={"fields": {...}}`` are added as they
are (the access log's method, route template, status, duration). An exception is logged
by its class and stack frames only: its message can quote data, so it is left out.
"""

from __future__ import annotations

import json
import logging
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Final

# The request id of the API call this code is serving (None outside a request).
REQUEST_ID: ContextVar[str | None] = ContextVar("ucb_request_id", default=None)

_HANDLER_MARK: Final = "_ucb_json_handler"


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line, with the request id when there is one."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "component": self.component,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({str(k): v for k, v in fields.items() if k not in line})
        if record.exc_info and record.exc_info[0] is not None:
            kind, _error, tb = record.exc_info
            line["exc_type"] = kind.__name__
            # Frames only: the exception's message may quote what a case holds.
            line["stack"] = "".join(traceback.format_tb(tb))
        return json.dumps(line, ensure_ascii=True, default=str, separators=(",", ":"))


def configure_logging(component: str, level: int | str = logging.INFO) -> bool:
    """JSON lines on stderr at ``level`` for the whole process, unless logging is already
    configured (the root logger has a handler that is not ours). Returns whether it
    configured. Calling it again replaces its own handler (one line per record)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]
    if len(ours) != len(root.handlers):
        return False
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter(component))
    root.addHandler(handler)
    root.setLevel(level)
    return True
