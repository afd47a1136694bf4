"""Log lines as JSON objects, one a line, for ``jzmap serve`` (``JZMAP_LOG_FORMAT=json``).

Every record becomes ``{"time", "level", "logger", "message"}``, plus the fields a request
line carries (``request_id``, ``method``, ``route``, ``status``, ``duration_ms``: see
:class:`api.metrics.MetricsMiddleware`) and a traceback when there is one. A log shipper
reads them without a parsing rule; no field holds a query string or a client's address.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

_PREFIX = "jzmap_"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON.

    Examples
    --------
    >>> record = logging.LogRecord("jzmap.access", logging.INFO, "", 0, "GET /livez 200",
    ...                            None, None)
    >>> record.jzmap_status = 200
    >>> line = json.loads(JsonFormatter().format(record))
    >>> line["logger"], line["message"], line["status"]
    ('jzmap.access', 'GET /livez 200', 200)
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key.startswith(_PREFIX):
                line[key[len(_PREFIX) :]] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
