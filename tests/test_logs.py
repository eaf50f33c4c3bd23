from __future__ import annotations

import io
import json
import logging

from babelrag import logs


def test_json_log_lines_carry_the_request_id():
    stream = io.StringIO()
    logs.configure(logging.INFO, "json")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    token = logs.request_id_var.set("abc123")
    try:
        logging.getLogger("babelrag.gateway").warning("quota nearly used: %d%%", 95)
    finally:
        logs.request_id_var.reset(token)
    logging.getLogger("babelrag.gateway").info("outside a request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first == {**first, "level": "WARNING", "logger": "babelrag.gateway", "request_id": "abc123", "message": "quota nearly used: 95%"}
    assert second["request_id"] == "-"
    logging.getLogger().handlers.clear()
