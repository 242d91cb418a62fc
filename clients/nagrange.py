"""The monitoring-plugins threshold range syntax for ``-w``/``-c``.

https://www.monitoring-plugins.org/doc/guidelines.html#THRESHOLDFORMAT: a range is
``[@]start:end``; ``start`` defaults to 0 and may be ``~`` (minus infinity), an omitted
``end`` is plus infinity, both ends are inclusive. A value *outside* the range alerts; with
a leading ``@``, a value *inside* it does.

    10      alert if < 0 or > 10
    10:     alert if < 10
    ~:10    alert if > 10
    10:20   alert if < 10 or > 20
    @10:20  alert if 10 <= value <= 20

(``nagiosplugin`` on PyPI has the same, ZPL-2.1; these thirty lines spare omapifo a
dependency for one command.)
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE = re.compile(rf"(?P<inside>@)?(?:(?P<start>{_NUMBER}|~):)?(?P<end>{_NUMBER})?")


@dataclass(frozen=True)
class Range:
    start: float
    end: float
    inside: bool  # "@": alert inside the range, not outside
    text: str  # as given: perfdata repeats it

    @classmethod
    def parse(cls, text: str) -> Range:
        spec = text.strip()
        m = _RANGE.fullmatch(spec)
        if m is None or (m["start"] is None and m["end"] is None):  # "", "@", ":"
            raise ValueError(f"{text!r} is not a threshold range (N, N:, ~:N, N:M or @N:M)")
        start = -math.inf if m["start"] == "~" else float(m["start"] or 0)
        end = math.inf if m["end"] is None else float(m["end"])
        if start > end:
            raise ValueError(f"{text!r}: the start of the range is above its end")
        return cls(start, end, bool(m["inside"]), spec)

    def alerts(self, value: float) -> bool:
        """True when ``value`` is outside the range (inside it, with ``@``)."""
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def __str__(self) -> str:
        return self.text
