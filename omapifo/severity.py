"""How bad something is: one level and the reasons, for a pair's health."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Level(enum.IntEnum):
    """Ordered so that ``max()`` of several levels is the worst."""

    OK = 0
    WARNING = 1
    CRITICAL = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Health:
    level: Level
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.level}: " + " ".join(self.reasons) if self.reasons else str(self.level)

    @property
    def ok(self) -> bool:
        return self.level is Level.OK
