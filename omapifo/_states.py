"""dhcpd's failover states and one peer's view of its failover relationship.

Numbers are dhcpd 4.x's (``includes/failover.h``, ``enum failover_state``), as its
failover-state OMAPI object reports them. Older 3.0.x servers numbered them
differently (partner-down was 1): never trust a number without the version.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


class FailoverState(enum.IntEnum):
    """A failover state with dhcpd 4.x's number; ``str()`` is the name dhcpd logs."""

    UNKNOWN_STATE = 0
    STARTUP = 1
    NORMAL = 2
    COMMUNICATIONS_INTERRUPTED = 3
    PARTNER_DOWN = 4
    POTENTIAL_CONFLICT = 5
    RECOVER = 6
    PAUSED = 7
    SHUTDOWN = 8
    RECOVER_DONE = 9
    RESOLUTION_INTERRUPTED = 10
    CONFLICT_DONE = 11
    RECOVER_WAIT = 254

    def __str__(self) -> str:
        return self.dhcpd_name

    @property
    def dhcpd_name(self) -> str:
        """The name as dhcpd writes it in its log: ``communications-interrupted``."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def from_name(cls, name: str) -> FailoverState:
        """``"partner-down"`` (dhcpd's spelling) or ``"PARTNER_DOWN"`` -> the state."""
        try:
            return cls[name.strip().upper().replace("-", "_")]
        except KeyError:
            raise ValueError(f"{name!r} is not a dhcpd failover state") from None

    @classmethod
    def decode(cls, value: int) -> FailoverState:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN_STATE


class Role(enum.Enum):
    """Which server of the pair: dhcpd.conf's ``primary;`` or ``secondary;``."""

    PRIMARY = "primary"
    SECONDARY = "secondary"

    def __str__(self) -> str:
        return self.value

    @property
    def other(self) -> Role:
        return Role.SECONDARY if self is Role.PRIMARY else Role.PRIMARY

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"role must be 'primary' or 'secondary', not {value!r}") from None


def utc_from_unix(value: int) -> datetime | None:
    """dhcpd's UNIX time as an aware UTC datetime; 0 means "never" and gives None."""
    return datetime.fromtimestamp(value, tz=timezone.utc) if value else None


@dataclass(frozen=True)
class FailoverStatus:
    """What one dhcpd says about its failover relationship (its failover-state object,
    decoded by :func:`omapifo._wire.failover_status`).

    ``since`` and ``partner_since`` are when each side last changed state, as this
    peer knows it. ``skew`` is reported but dhcpd 4.4.3 never fills it in, so it is
    not a clock measurement. The object's ``local-address``/``partner-address`` are
    garbage in dhcpd 4.4 (a pointer, different on every read): addresses come from
    the configuration, never from here.
    """

    name: str
    local_state: FailoverState
    partner_state: FailoverState
    since: datetime | None
    partner_since: datetime | None
    mclt: int | None
    max_response_delay: int | None
    max_outstanding_updates: int | None
    load_balance_max_secs: int | None
    hierarchy: int | None  # 0 primary, 1 secondary
    skew: int | None
    cur_unacked_updates: int | None
    local_port: int | None = None
    partner_port: int | None = None

    @property
    def role(self) -> Role | None:
        return {0: Role.PRIMARY, 1: Role.SECONDARY}.get(self.hierarchy)  # type: ignore[arg-type]


def recover_wait_until(since: datetime | None, mclt: int | None) -> datetime | None:
    """When a peer in recover-wait may move on: its state change time plus the MCLT."""
    if since is None or mclt is None:
        return None
    return since + timedelta(seconds=mclt)
