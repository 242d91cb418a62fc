"""How bad something is: one scale for a pair's health and for configuration findings."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ._states import Role

#: Seconds a peer may be out of touch with its partner (communications-interrupted: the
#: partner is dead, or the link between them is cut) before the pair is CRITICAL: the
#: time an admin has to find out which, and to declare partner-down if the partner is
#: dead. Critical once it has lasted *more* than this, as monitoring-plugins read
#: ``-c 300``. The one number of the dead-peer policy: the default of the configuration's
#: ``comms_interrupted_warning`` (the service's and ``omapifo status``'s rating), which
#: ``omapifo check -c`` takes by default and the service exports as
#: ``omapifo_peer_critical_after_seconds`` for the alerting rules to compare against, so
#: that the rules and the check call a dead peer critical at the same moment
#: (docs/monitoring.md, "When a dead peer is critical").
PEER_CRITICAL_AFTER = 300.0


class Level(enum.IntEnum):
    """Ordered so that ``max()`` of several levels is the worst; ``str()`` is the lowercase
    name that every output prints (``ok``, ``info``, ``warning``, ``critical``).

    INFO is for configuration findings worth reading that need no change; a pair's health
    is never INFO. ``int(level)`` is only this order: the number monitoring sees is
    :attr:`code`.
    """

    OK = 0
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    def __str__(self) -> str:
        return self.name.lower()

    @property
    def code(self) -> int:
        """0 ok (and info), 1 warning, 2 critical: the monitoring-plugins status of
        ``omapifo check``, the ``omapifo_pair_health`` gauge and ``config check``'s exit
        code, which all follow the monitoring-plugins convention."""
        return _CODES[self]


_CODES = {Level.OK: 0, Level.INFO: 0, Level.WARNING: 1, Level.CRITICAL: 2}


@dataclass(frozen=True)
class Note:
    """One thing :func:`omapifo._health.assess` found, with its level.

    ``summary`` is a few words for one-line outputs (``omapifo check``); ``reason`` is the
    sentence with the next step (``Health.reasons``). ``partner_down`` names the peer on
    which partner-down would be declared when that is the next step, if the partner is
    really down (``omapifo doctor`` turns it into the command).
    """

    level: Level
    role: Role | None  # the peer it is about; None for the pair
    summary: str
    reason: str
    partner_down: Role | None = None


@dataclass(frozen=True)
class Health:
    level: Level
    reasons: tuple[str, ...]
    # The same findings as ``reasons``, with their levels, when assess built this Health;
    # empty when it came back from the REST service, which sends level and reasons only.
    # Not compared: two Health are equal when they say the same (level and reasons).
    notes: tuple[Note, ...] = field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.level}: " + " ".join(self.reasons) if self.reasons else str(self.level)

    @property
    def ok(self) -> bool:
        return self.level is Level.OK
