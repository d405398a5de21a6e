"""Structured logs: every line carries the request id; one access line per request; JSON option.

The access line holds the method, the route with its numeric ids (never a query string, a body,
a status-link token or any other text from the URL), the status, the duration, the request id
and the user's numeric id: no emails, names, tokens or passwords. Set HIRETRACK_LOG_FORMAT=json
for one JSON object per line. See docs/operations.md.
"""

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler

ACCESS_LOGGER = "hiretrack.access"
_RULE_PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
#: Attributes every LogRecord has; anything else on a record was passed as `extra`.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
#: Extra fields never written, even if a caller passes them by mistake.
_NEVER_LOGGED = frozenset({"email", "name", "password", "token", "body", "query"})


def _request_fields() -> dict[str, object]:
    """The request id and user id of the request being served, if any."""
    if not has_request_context():
        return {"request_id": "-", "user_id": None}
    user = g.get("api_user") or g.get("_login_user")
    user_id = getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None
    return {"request_id": g.get("request_id", "-"), "user_id": user_id}


class RequestContextFilter(logging.Filter):
    """Put request_id and user_id on every record handled inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _request_fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRIBUTES or key in _NEVER_LOGGED or key.startswith("_"):
                continue
            document[key] = (
                value if isinstance(value, str | int | float | bool | None) else str(value)
            )
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [request %(request_id)s] %(message)s"


class StderrHandler(logging.StreamHandler):
    """Write to whatever sys.stderr is now (a server or a test runner may swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


#: One handler for the process, re-configured by each app (tests build many apps).
_handler = StderrHandler()
_handler.addFilter(RequestContextFilter())


def loggable_path() -> str:
    """The request's path with only numeric ids filled in: other URL values become <name>.

    A status link's token, a slug or an email pasted into a URL never reaches the log; an
    unmatched URL (a 404) is logged by its first segment only.
    """
    rule = request.url_rule
    if rule is None:
        first = request.path.strip("/").split("/", 1)[0]
        return f"/{first}/…" if "/" in request.path.strip("/") else f"/{first}"
    values = request.view_args or {}

    def fill(match: re.Match) -> str:
        converter, name = match.group(1), match.group(2)
        if converter == "int" and isinstance(values.get(name), int):
            return str(values[name])
        return f"<{name}>"

    return _RULE_PARAMETER.sub(fill, rule.rule)


def setup_logging(app: Flask) -> None:
    """Send HireTrack's logs to stderr in text or JSON lines, and log one line per request."""
    logger = logging.getLogger("hiretrack")
    logger.removeHandler(default_handler)
    if app.config.get("LOG_FORMAT") == "json":
        _handler.setFormatter(JSONFormatter())
    else:
        _handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    if _handler not in logger.handlers:
        logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    access = logging.getLogger(ACCESS_LOGGER)

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
        fields = _request_fields()
        path = loggable_path()
        access.info(
            "%s %s %s %sms user=%s request=%s",
            request.method,
            path,
            response.status_code,
            duration_ms,
            fields["user_id"] if fields["user_id"] is not None else "-",
            fields["request_id"],
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                **fields,
            },
        )
        return response
