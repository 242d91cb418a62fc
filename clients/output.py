"""How the command line shows things: aligned tables, colour on a tty, local times with age.

Every value a table, a line or JSON shows may come from dhcpd or a DHCP client (a lease's
host-name): :func:`table` shows each cell through :func:`omapifo.visible`, so
no control character, ESC sequence or bidi override reaches the terminal raw; only the
colour codes :func:`colour` adds (a :class:`Styled` string) pass as they are.
"""
from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from omapifo import (FailoverState, Level, format_duration, json_text, printable, state_level,
                     visible)

# A colour per level: the only table here. A state is coloured by the level that
# omapifo/_health.py gives it, so the table of states and the pair's health cannot disagree.
_LEVEL_COLOURS = {Level.OK: "32", Level.WARNING: "33", Level.CRITICAL: "31"}


def _level(text: str) -> Level | None:
    """The level a word stands for: a level's own name (``warning``), a failover state's
    name (``partner-down``) or ``unreachable`` (a peer without a state); else None."""
    if text == "unreachable":
        return state_level(None)
    try:
        return Level[text.upper()]
    except KeyError:
        pass
    try:
        return state_level(FailoverState.from_name(text))
    except ValueError:
        return None  # a lease state, "-", ...: not a rating


class Styled(str):
    """Text that holds our own colour codes around an escaped value: :func:`table` shows
    it as it is. Only :func:`colour` makes one; a plain ``str`` cell is always escaped,
    so a value cannot pass for one by holding the same bytes."""


def colour(text: str, stream: TextIO | None = None) -> str:
    """``text`` in the colour of its level (green ok, yellow warning, red critical) on a
    tty; unchanged elsewhere, when ``NO_COLOR`` is set and not empty (https://no-color.org),
    and for words that are not a level or a failover state."""
    level = _level(text)
    code = _LEVEL_COLOURS.get(level) if level is not None else None
    if not code or not use_colour(stream or sys.stdout):
        return text
    return Styled(f"\033[{code}m{visible(text)}\033[0m")


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set to anything but ""."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


def age(when: str | None, now: datetime | None = None) -> str:
    """``"since 14:02:11, 3 h ago"`` style: local clock time and how long ago."""
    if not when:
        return ""
    t = datetime.fromisoformat(when)
    now = now or datetime.now(timezone.utc)
    secs = max(0, int((now - t).total_seconds()))
    local = t.astimezone()
    fmt = "%H:%M:%S" if secs < 86400 else "%Y-%m-%d %H:%M"
    return f"since {local.strftime(fmt)}, {format_duration(secs)} ago"


def cell(value: object) -> str:
    """What a table shows of ``value``: a :class:`Styled` string as it is, anything else
    through :func:`~omapifo.visible` (``\\x1b``, ``\\u202e``)."""
    return value if isinstance(value, Styled) else visible(str(value))


_SGR = re.compile(r"\033\[[0-9;]*m")  # the colour codes of a Styled cell: no width


def table(rows: list[list[str]], header: list[str], stream: TextIO | None = None) -> None:
    """Columns aligned on the visible text (colour codes do not count); every cell
    escaped by :func:`cell`."""
    shown = [[cell(c) for c in r] for r in [header] + rows]
    widths = [max(len(_SGR.sub("", r[i])) for r in shown) for i in range(len(header))]
    for r in shown:
        cells = [c + " " * (w - len(_SGR.sub("", c))) for c, w in zip(r, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=stream or sys.stdout)


def say(line: str, stream: TextIO | None = None) -> None:
    """Print a line that embeds values from dhcpd (an error, a difference between the
    peers) with every character that is not printable escaped."""
    print(printable(line), file=stream or sys.stdout)


def dump_json(data: Any) -> None:
    """JSON for ``--json``: ASCII only (``ensure_ascii``, DEL too), so a value cannot
    reach a terminal raw even when the JSON is shown on one."""
    print(json_text(data, indent=2, sort_keys=False))
