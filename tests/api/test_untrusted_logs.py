"""The service's log lines (api/logs.py) carry no raw control, ESC or bidi character, in
text and in JSON, whatever the values hold (issue 21). The real lease with such a
host-name, through the app: tests/clients/test_hostile_hostname.py."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from omapifo.api import logs

HOSTILE = "=cmd|' /C calc'!A0\x1b[2J\x1b]52;c;SGVsbG8=\x07\u202eevil\x85\x7f\u2028"
RAW = ("\x1b", "\x07", "\x85", "\x7f", "\u202e", "\u2028")


@pytest.fixture
def captured() -> Iterator[Callable[[str], io.StringIO]]:
    handlers: list[logging.Handler] = []
    loggers = [logging.getLogger(name) for name in logs.LOGGERS]
    old = [lg.level for lg in loggers]

    def use(fmt: str) -> io.StringIO:
        stream = io.StringIO()
        handlers.append(logs.configure("info", fmt, stream))
        return stream

    yield use
    for lg, level in zip(loggers, old, strict=True):
        for h in handlers:
            lg.removeHandler(h)
        lg.setLevel(level)


def raw_in(text: str) -> list[str]:
    return [c for c in RAW if c in text]


def test_a_text_line_quotes_and_escapes_a_hostile_value(captured):
    out = captured("text")
    logs.event(logging.WARNING, "action", pair=HOSTILE, peer="primary", actor="(no valid token)",
               action="partner-down", outcome="rejected", detail="HTTP 401")
    (line,) = out.getvalue().splitlines()
    assert not raw_in(line)
    quoted = line.split(" pair=", 1)[1].split(" peer=")[0]
    assert json.loads(quoted) == HOSTILE  # a JSON string: the value, exactly
    assert "\\u001b[2J" in quoted and "\\u202e" in quoted
    # plain values stay plain, and é is no escape
    logs.event(logging.INFO, "transition", pair="lab-é", peer="primary")
    assert out.getvalue().splitlines()[1].endswith("transition pair=lab-é peer=primary")


def test_a_newline_forges_no_log_line_in_any_logger(captured):
    out = captured("text")
    logs.event(logging.INFO, "action", pair="p", detail="ok\nINFO omapifo.events: forged")
    logging.getLogger("waitress").warning("bad request %s", "/x\n\x1b[2Jforged")
    try:
        raise RuntimeError("in a traceback: " + HOSTILE)
    except RuntimeError:
        logging.getLogger("omapifo.api").exception("internal error %s", HOSTILE)
    text = out.getvalue()
    assert not raw_in(text)
    lines = text.splitlines()
    assert lines[0].startswith("INFO omapifo.events: action") and "forged" in lines[0]
    assert lines[1] == "WARNING waitress: bad request /x\\n\\x1b[2Jforged"
    assert lines[2].startswith("ERROR omapifo.api: internal error =cmd|")
    assert lines[3] == "Traceback (most recent call last):"  # its own lines, kept
    assert lines[-1].startswith("RuntimeError: in a traceback: =cmd|' /C calc'!A0\\x1b[2J")


def test_a_json_line_is_ascii_and_gives_the_value_back(captured):
    out = captured("json")
    logs.event(logging.WARNING, "action", pair=HOSTILE, reason="é", detail=HOSTILE)
    logging.getLogger("waitress").warning("bad request %s", HOSTILE)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.isascii() and line.isprintable() and not raw_in(line)
    first = json.loads(lines[0])
    assert first["pair"] == HOSTILE and first["detail"] == HOSTILE and first["reason"] == "é"
    assert json.loads(lines[1])["message"] == f"bad request {HOSTILE}"
