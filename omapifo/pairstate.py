"""A pair's state at one moment: each peer as seen from here, and what an action did.

Model types only: the operations (:mod:`omapifo.failover`) build them, the guards
(:mod:`omapifo.guards`) and health (:mod:`omapifo.health`) read them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .config import Endpoint
from .evidence import Evidence
from .severity import Health
from .states import FailoverState, FailoverStatus, Role, recover_wait_until


@dataclass(frozen=True)
class PeerView:
    """One server as seen from here: reachable or not, and its failover status."""

    role: Role
    endpoint: Endpoint
    status: FailoverStatus | None
    error: str | None = None
    error_kind: str | None = None  # the omapifo.errors class name, e.g. "PeerTimeout"

    @property
    def reachable(self) -> bool:
        return self.status is not None

    @property
    def evidence(self) -> Evidence:
        """What the read (or its failure) tells about this peer; see omapifo.evidence."""
        return Evidence.READABLE if self.status is not None else Evidence.of(
            self.error_kind or "PeerError")

    @property
    def local_state(self) -> FailoverState | None:
        return self.status.local_state if self.status else None

    @property
    def partner_state(self) -> FailoverState | None:
        return self.status.partner_state if self.status else None

    @property
    def since(self) -> datetime | None:
        return self.status.since if self.status else None

    @property
    def mclt(self) -> int | None:
        return self.status.mclt if self.status else None

    @property
    def recover_wait_until(self) -> datetime | None:
        """In recover-wait: when dhcpd may move on (state change + MCLT); else None."""
        if not self.status or self.status.local_state is not FailoverState.RECOVER_WAIT:
            return None
        return recover_wait_until(self.status.since, self.status.mclt)


@dataclass(frozen=True)
class PairState:
    """Both peers' views at one moment, and the health derived from them."""

    pair: str
    primary: PeerView
    secondary: PeerView
    read_at: datetime
    health: Health

    def peer(self, role: Role | str) -> PeerView:
        return self.primary if Role.parse(role) is Role.PRIMARY else self.secondary

    @property
    def split_brain(self) -> bool:
        """Both peers in partner-down (see :func:`split_brain`)."""
        return split_brain(self.primary, self.secondary)


def split_brain(primary: PeerView, secondary: PeerView) -> bool:
    """Both peers in partner-down, as read from both or as either reports its partner:
    each hands out every address (dhcpd(8), THE FAILOVER-STATE OBJECT). The one test of a
    split brain: the guards refuse to cause one, health rates it critical."""
    down = FailoverState.PARTNER_DOWN
    p, s = primary, secondary
    return (p.local_state is down or s.partner_state is down) and \
        (s.local_state is down or p.partner_state is down)


@dataclass(frozen=True)
class ActionResult:
    """What a guarded operation did (or, with dry_run, would do)."""

    pair: str
    role: Role
    action: str  # "partner-down" or "shutdown"
    done: bool  # a change was sent to dhcpd
    dry_run: bool
    message: str
    before: PairState
    after: PairState | None = None
    force: bool = False
    reason: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    evidence: Evidence | None = None  # what omapifo knew of the partner when it decided
    split_brain: bool = False  # the read after the change shows both peers in partner-down
