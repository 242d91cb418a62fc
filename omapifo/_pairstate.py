"""A pair's state at one moment: each peer as seen from here, and what an action did.

Model types only: the operations (:mod:`omapifo._failover`) build them, the guards
(:mod:`omapifo._guards`) and health (:mod:`omapifo._health`) read them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from ._config import Endpoint
from ._errors import OmapifoError, by_name
from ._evidence import Evidence
from ._severity import Health
from ._states import FailoverState, FailoverStatus, Role, recover_wait_until


@dataclass(frozen=True)
class PeerView:
    """One server as seen from here: reachable or not, and its failover status."""

    role: Role
    endpoint: Endpoint
    status: FailoverStatus | None
    error: str | None = None
    error_kind: str | None = None  # the omapifo._errors class name, e.g. "PeerTimeout"
    # the class itself when the read failed here (a view loaded from JSON has the name only)
    error_type: type[OmapifoError] | None = field(default=None, compare=False)

    @classmethod
    def failed(cls, role: Role, endpoint: Endpoint, error: OmapifoError) -> PeerView:
        """The view of a peer whose read raised ``error``."""
        return cls(role, endpoint, None, str(error), type(error).__name__, type(error))

    @property
    def reachable(self) -> bool:
        return self.status is not None

    @property
    def error_class(self) -> type[OmapifoError] | None:
        """The error's class: the one raised here, else the omapifo._errors class that
        ``error_kind`` names (None when the read worked or the name is unknown)."""
        if self.status is not None:
            return None
        return self.error_type or by_name(self.error_kind)

    @property
    def evidence(self) -> Evidence:
        """What the read (or its failure) tells about this peer, keyed by the error's
        class (an unknown one is SILENT, never "stopped"); see omapifo._evidence."""
        if self.status is not None:
            return Evidence.READABLE
        return Evidence.of(self.error_class or self.error_kind or "PeerError")

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
