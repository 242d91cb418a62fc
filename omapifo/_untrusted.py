"""Text from dhcpd and its clients, made harmless wherever omapifo shows it.

A DHCP client chooses its own host-name, and dhcpd hands it back over OMAPI byte for byte
(measured on the lab: a dhclient.conf ``send host-name "...\\033[2J..."`` came back from
dhcpd's lease object with the raw ESC; dhcpd itself logs such a name as "Hostname
Unsuitable for Printing" and leaves it out of dhcpd.leases). Printed as it is, an ESC
sequence can erase or forge rows of a table, OSC 52 can set the reader's clipboard, and a
bidi override (U+202E) can make one name read as another; in a spreadsheet a cell that
begins with ``=`` is a formula (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``).

One rule here for every output: a character that is not printable (Python's
``str.isprintable``: C0 controls, DEL, C1 controls, format characters such as the bidi
overrides and isolates U+202A-202E, U+2066-2069, U+200E/F and U+061C, line and paragraph
separators, spaces other than U+0020, unassigned code points) is written as a visible
escape, ``\\x1b``, ``\\u202e``, ``\\U000e0001``, as Python writes them.

- :func:`visible`: a value in a table or CSV cell; a backslash is doubled too, so the
  cell says exactly which characters the value holds (``unicode_escape`` reads it back).
- :func:`printable`: a line of prose or a log line that already quotes its values
  (error messages use ``repr``): backslashes stay as they are.
- :func:`csv_cell`: :func:`visible`, and a cell a spreadsheet would take for a formula
  (first character ``= + - @``, TAB or CR) gets a leading ``'``, as OWASP's "CSV
  Injection" advises; a value that itself begins with ``'`` gets one too, so one leading
  ``'`` is always ours and the CSV stays lossless.
- :func:`json_text`: JSON with ``ensure_ascii`` (every non-ASCII character and every C0
  control as ``\\uXXXX``) and DEL, which ``json.dumps`` leaves raw, as ``\\u007f``.
- :func:`json_string`: one value as a JSON string literal that escapes only what is not
  printable (``é`` stays ``é``): the quoted values of the service's text log.
"""
from __future__ import annotations

import json
from typing import Any

__all__ = ["csv_cell", "json_string", "json_text", "printable", "visible"]

# first characters that make a spreadsheet evaluate a cell (OWASP, CSV Injection);
# "'" because a value that begins with one must not lose it when a reader strips ours
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escaped(text: str, backslash: bool) -> str:
    return "".join(_escape(ch) if not ch.isprintable() else
                   "\\\\" if backslash and ch == "\\" else ch for ch in text)


def printable(text: str) -> str:
    """``text`` with every character that is not printable written as its escape
    (``"\\x1b"``, ``"\\u202e"``); backslashes kept. For messages and log lines."""
    return text if text.isprintable() else _escaped(text, backslash=False)


def visible(text: str) -> str:
    """``text`` as a cell shows it: :func:`printable`, and every backslash doubled, so
    that ``\\x1b`` in a cell always means the character ESC was there."""
    if text.isprintable() and "\\" not in text:  # nearly every value: no copy
        return text
    return _escaped(text, backslash=True)


def csv_cell(text: str) -> str:
    """One CSV cell: :func:`visible`, with a ``'`` before a cell a spreadsheet would
    evaluate (``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``)."""
    cell = visible(text)
    # the value's first character, not the cell's: a TAB or CR is escaped to "\\t", "\\r"
    # already, and gets the quote all the same, as OWASP lists them
    return "'" + cell if text.startswith(_FORMULA_START) else cell


def json_text(data: Any, **kw: Any) -> str:
    """``json.dumps(data, ensure_ascii=True, **kw)`` with DEL escaped as well: nothing
    but printable ASCII leaves it, whatever the strings in ``data`` hold."""
    # DEL can only be inside a JSON string (it is no JSON syntax), where \\u007f means it
    return json.dumps(data, ensure_ascii=True, **kw).replace("\x7f", "\\u007f")


def json_string(text: str) -> str:
    """``text`` as a JSON string literal (``json.loads`` gives it back) in which only
    what is not printable is escaped, as ``\\uXXXX`` (a surrogate pair above U+FFFF)."""
    out = json.dumps(text, ensure_ascii=False)  # escapes '"', '\\' and C0 already
    if out.isprintable():
        return out
    return "".join(ch if ch.isprintable() else _json_escape(ch) for ch in out)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xd800 + (code >> 10):04x}\\u{0xdc00 + (code & 0x3ff):04x}"
