"""Process logging: one line per record, tagged with the request id of the call being served.

``text`` is for people (``2026-11-24 21:07:02 INFO babelrag.gateway [req 3f9c...] message``);
``json`` is one JSON object per line for log pipelines (ts, level, logger, request_id, message,
exception). The request id comes from :data:`babelrag.gateway.auth.request_id_var`, set by the
gateway's interceptor for every call (from the caller's ``x-request-id`` or generated).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys

#: The id of the request being handled in this context ("-" outside requests).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("babelrag_request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: int = logging.INFO, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [req %(request_id)s] %(message)s"))
    else:
        raise ValueError(f"unknown log format {fmt!r}: use 'text' or 'json'")
    handler.formatter.converter = __import__("time").gmtime
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
