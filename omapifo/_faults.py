"""Fault-injection points for tests: off unless a test sets them.

The actions call :func:`point` at the moments a crash matters (after the attempt is
recorded and before anything is sent; after sending and before the outcome is
recorded). The command line and the service read ``OMAPIFO_FAULTS`` (for example
``before-send=sleep:0.5`` or ``after-send=hang``) and pass it to :func:`configure`;
the library itself reads no environment.
"""
from __future__ import annotations

import time

POINTS = ("before-send", "after-send")
_active: dict[str, tuple[str, float]] = {}


def configure(spec: str | None) -> None:
    """``"POINT=sleep:SECONDS,POINT=hang"``; an empty spec clears every point."""
    _active.clear()
    for item in filter(None, (part.strip() for part in (spec or "").split(","))):
        name, _, action = item.partition("=")
        kind, _, arg = action.partition(":")
        if name not in POINTS or kind not in ("sleep", "hang"):
            raise ValueError(f"OMAPIFO_FAULTS: {item!r} is not POINT=sleep:SECONDS or "
                             f"POINT=hang with POINT one of {', '.join(POINTS)}")
        _active[name] = (kind, float(arg or 0))


def point(name: str) -> None:
    """Where a test may stop the program: sleeps (or hangs, to be SIGKILLed) if set."""
    if name not in _active:
        return
    kind, seconds = _active[name]
    if kind == "sleep":
        time.sleep(seconds)
    else:
        while True:  # until the test kills this process
            time.sleep(3600)
