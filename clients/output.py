"""How the command line shows things: aligned tables, colour on a tty, local times with age."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

_COLOURS = {"normal": "32", "ok": "32", "active": "32", "warning": "33", "startup": "33",
            "recover": "33", "recover-wait": "33", "recover-done": "33", "paused": "33",
            "shutdown": "33", "communications-interrupted": "33", "partner-down": "31",
            "critical": "31", "potential-conflict": "31", "conflict-done": "31",
            "resolution-interrupted": "31", "unreachable": "31"}


def colour(text: str, stream: TextIO | None = None) -> str:
    code = _COLOURS.get(text)
    if not code or not (stream or sys.stdout).isatty():
        return text
    return f"\033[{code}m{text}\033[0m"


def age(when: str | None, now: datetime | None = None) -> str:
    """``"normal since 14:02, 3h ago"`` style: local clock time and how long ago."""
    if not when:
        return ""
    t = datetime.fromisoformat(when)
    now = now or datetime.now(timezone.utc)
    secs = max(0, int((now - t).total_seconds()))
    ago = (f"{secs}s" if secs < 120 else f"{secs // 60}m" if secs < 7200
           else f"{secs // 3600}h" if secs < 172800 else f"{secs // 86400}d")
    local = t.astimezone()
    fmt = "%H:%M:%S" if secs < 86400 else "%Y-%m-%d %H:%M"
    return f"since {local.strftime(fmt)}, {ago} ago"


def table(rows: list[list[str]], header: list[str], stream: TextIO | None = None) -> None:
    """Columns aligned on the visible text (colour codes do not count)."""
    import re
    strip = re.compile(r"\033\[[0-9;]*m")
    widths = [max(len(strip.sub("", str(r[i]))) for r in [header] + rows)
              for i in range(len(header))]
    for r in [header] + rows:
        cells = [str(c) + " " * (w - len(strip.sub("", str(c))))
                 for c, w in zip(r, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=stream or sys.stdout)


def dump_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def state_name(state: dict[str, Any] | None) -> str:
    return state["name"] if state else "unreachable"
