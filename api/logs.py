"""What ``omapifo serve`` logs for an admin: one line per state transition, per action
and per poll error, to stderr (the journal under systemd), as text or JSON lines.

Events go to the ``omapifo.events`` logger through :func:`event`; the audit trail stays
the record (api/auditing.py, the store): a line here is a copy for whoever reads the
journal, and a disabled logger loses nothing but that copy.

Text: ``LEVEL event key=value ...`` (values with spaces quoted as JSON strings); the
journal adds the time. JSON: one object a line with the fixed keys :data:`JSON_KEYS`
(a key that does not apply to an event is null).

Values come from outside too (a stranger's request path names the pair of a rejected
action; an error may carry what dhcpd said): both formats escape every character that is
not printable (omapifo/_untrusted.py), so no line holds a raw control character, ESC
sequence, newline or bidi override. Text: a value with one is quoted as a JSON string
(``pair="\\u001b[2J"``) and any other line (waitress', a traceback) has them escaped as
``\\x1b``; JSON: ``ensure_ascii``, ASCII only.
"""
from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from omapifo import json_string, json_text, printable

EVENTS = logging.getLogger("omapifo.events")
# every event's fields, in this order; a JSON line has all of them
FIELDS = ("pair", "peer", "field", "from", "to", "actor", "action", "force", "outcome",
          "reason", "error", "detail")
JSON_KEYS = ("time", "level", "logger", "event", "message") + FIELDS


def event(level: int, name: str, **fields: Any) -> None:
    """Log one event (``transition``, ``action``, ``poll-error``) with its fields."""
    if not EVENTS.isEnabledFor(level):
        return
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown event fields {sorted(unknown)}")
    text = " ".join([name] + [f"{k}={_value(v)}" for k, v in fields.items()])
    EVENTS.log(level, "%s", text, extra={"omapifo_event": name, "omapifo_fields": fields})


def _value(v: Any) -> str:
    s = "-" if v is None else str(v)
    if not s or not s.isprintable() or any(c.isspace() or c in '"=\\' for c in s):
        return json_string(s)  # a JSON string: json.loads gives the value back
    return s


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message``; whatever the message holds, one line of printable
    characters (a traceback keeps its own line breaks, each line escaped)."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return "\n".join(printable(line) for line in super().formatException(ei).split("\n"))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return "\n".join(printable(line) for line in stack_info.split("\n"))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "omapifo_fields", {})
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "omapifo_event", None),
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = fields.get(key)
            out[key] = value if value is None or isinstance(value, (bool, int, float)) \
                else str(value)
        if record.exc_info:
            out["message"] += "\n" + self.formatException(record.exc_info)
        return json_text(out)  # ASCII only: no control or bidi character survives


# the loggers `omapifo serve` writes, and the least level of each ("level": the configured
# one); APScheduler's info lines are two per poll ("Running job", "executed successfully")
LOGGERS = {"omapifo": "level", "waitress": "level", "apscheduler": "warning"}


def configure(level: str = "info", fmt: str = "text",
              stream: TextIO | None = None) -> logging.Handler:
    """One handler, to ``stream`` (stderr), on the service's loggers (:data:`LOGGERS`:
    omapifo's own, waitress's, APScheduler's), so that every line has the configured
    format; returns it (to remove it again). Call it before ``create_app``: Flask adds a
    handler of its own to the app's logger when no parent has one."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    wanted = logging.getLevelName(level.upper())
    for name, least in LOGGERS.items():
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        floor = wanted if least == "level" else logging.getLevelName(least.upper())
        logger.setLevel(max(wanted, floor))
    return handler
