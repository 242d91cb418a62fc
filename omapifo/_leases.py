"""A lease as one peer holds it, and as both failover peers see it.

dhcpd's lease object (dhcpd(8), THE LEASE OBJECT) is opened by its address, its MAC or its
client identifier (:func:`omapifo._omapi.lease_lookup`; decoded by :func:`omapifo._wire.lease`;
looked up on both peers by :func:`omapifo._lookups.lease_view`). Its
``state`` numbers are dhcpd 4.x's binding states (``includes/dhcpd.h``, FTS_*).
Measured on the lab: the serving peer alone has ``cltt`` and ``client-hostname``,
and ``tstp``/``tsfp``/``atsfp`` differ between the peers by design; state, hardware
address and ``ends`` agree.
"""
from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from ._bothpeers import BothPeers
from ._evidence import Evidence
from ._states import Role


class LeaseState(enum.IntEnum):
    """dhcpd 4.x's binding state of a lease; ``str()`` is the name dhcpd.leases uses."""

    FREE = 1
    ACTIVE = 2
    EXPIRED = 3
    RELEASED = 4
    ABANDONED = 5
    RESET = 6
    BACKUP = 7
    RESERVED = 8
    BOOTP = 9

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Lease:
    """One peer's view of one lease; times are aware UTC datetimes, None when unset (0)."""

    ip: ipaddress.IPv4Address
    state: LeaseState | None
    hardware_address: str | None
    client_id: str | None
    client_hostname: str | None
    starts: datetime | None
    ends: datetime | None
    tstp: datetime | None
    tsfp: datetime | None
    atsfp: datetime | None
    cltt: datetime | None


@dataclass(frozen=True)
class LeaseView(BothPeers[Lease]):
    """One lease as both peers see it."""

    # what failover peers must agree on; tstp/tsfp/atsfp/cltt/hostname legitimately differ
    MUST_AGREE: ClassVar[tuple[str, ...]] = ("state", "hardware_address", "ends")
    MISSING: ClassVar[str] = "does not know this lease"

    ip: ipaddress.IPv4Address
    primary: Lease | None
    secondary: Lease | None
    errors: dict[Role, str] = field(default_factory=dict)
    # what each peer's read told (omapifo._evidence); empty when rebuilt from JSON
    evidence: dict[Role, Evidence] = field(default_factory=dict)

    @property
    def state(self) -> LeaseState | None:
        """The binding state: the peers' common state; if they disagree, ``active`` when
        either holds an active binding (a client may be using it), else the primary's."""
        states = [lease.state for lease in (self.primary, self.secondary) if lease]
        if LeaseState.ACTIVE in states:
            return LeaseState.ACTIVE
        return states[0] if states else None

    @property
    def serving(self) -> Role | None:
        """The peer that served the client: it alone records cltt (measured)."""
        p, s = self.primary, self.secondary
        if p and p.cltt and (not s or not s.cltt or p.cltt >= s.cltt):
            return Role.PRIMARY
        if s and s.cltt:
            return Role.SECONDARY
        return None
