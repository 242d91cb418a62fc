"""A failover pair: both peers' state, health, and the guarded state changes.

>>> pair = FailoverPair(config)            # a PairConfig, or load_config(...).pair(name)
>>> st = pair.state()                      # both peers, read concurrently
>>> st.primary.local_state
<FailoverState.NORMAL: 2>
>>> pair.partner_down("secondary")         # refuses unless it is safe
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from .config import Endpoint, PairConfig
from .errors import ConfigError, ConvergenceError, OperationRefused, PartnerDownRefused, PeerError
from .dhcpdconf import DhcpdConf, parse_file
from .leases import LeaseView, lease_view
from .leases import release as release_lease
from .health import DEFAULT_COMMS_INTERRUPTED_LIMIT, Health, assess, recover_wait_until
from .omapi import OmapiPeer, u32
from .scan import DEFAULT_WINDOW
from .states import FailoverState, FailoverStatus, Role

if TYPE_CHECKING:
    from .confcheck import Finding
    from .pools import PoolReport

audit_log = logging.getLogger("omapifo.audit")
T = TypeVar("T")


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


class FailoverPair:
    """Both servers of one ISC dhcpd failover pair, over OMAPI.

    Thread-safe: each peer's connection has its own lock. Close it (or use ``with``)
    to drop the connections.
    """

    def __init__(self, config: PairConfig, *,
                 comms_interrupted_limit: float = DEFAULT_COMMS_INTERRUPTED_LIMIT) -> None:
        self.config = config
        self.name = config.name
        self.comms_interrupted_limit = comms_interrupted_limit
        self.peers = {
            role: OmapiPeer(ep.host, ep.port, config.key, label=str(role), timeout=config.timeout)
            for role, ep in ((Role.PRIMARY, config.primary), (Role.SECONDARY, config.secondary))
        }
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"omapifo-{self.name}")
        self._conf: tuple[float, DhcpdConf] | None = None

    def __repr__(self) -> str:
        return f"FailoverPair({self.name!r}, {self.config.primary}, {self.config.secondary})"

    def __enter__(self) -> FailoverPair:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for peer in self.peers.values():
            peer.close()
        self._pool.shutdown(wait=False)

    def peer(self, role: Role | str) -> OmapiPeer:
        return self.peers[Role.parse(role)]

    def endpoint(self, role: Role | str) -> Endpoint:
        return self.config.primary if Role.parse(role) is Role.PRIMARY else self.config.secondary

    # -- reading ----------------------------------------------------------------------

    def status(self, role: Role | str) -> FailoverStatus:
        """One peer's failover-state object; raises a PeerError if it cannot be read."""
        obj = self.peer(role).open("failover-state", [("name", self.config.failover_peer.encode())],
                                   operation="read failover state")
        return FailoverStatus.from_omapi(self.config.failover_peer, obj.attrs)

    def view(self, role: Role | str, *, strict: bool = False) -> PeerView:
        """One peer's view; an unreachable peer is a view with ``error`` set, not an exception
        (with ``strict=True`` its PeerError is raised instead)."""
        role = Role.parse(role)
        try:
            return PeerView(role, self.endpoint(role), self.status(role))
        except PeerError as exc:
            if strict:
                raise
            return PeerView(role, self.endpoint(role), None, str(exc), type(exc).__name__)

    def on_both(self, fn: Callable[[Role], T]) -> tuple[T, T]:
        """``(fn(PRIMARY), fn(SECONDARY))``, the two called concurrently (the secondary on
        the pair's worker thread): a dead peer's timeout does not delay the live one."""
        fut = self._pool.submit(fn, Role.SECONDARY)
        primary = fn(Role.PRIMARY)
        return primary, fut.result()

    def state(self) -> PairState:
        """Both peers' failover state, read concurrently, with the pair's health."""
        primary, secondary = self.on_both(self.view)
        now = datetime.now(timezone.utc)
        return PairState(self.name, primary, secondary, now,
                         assess(primary, secondary, now, self.comms_interrupted_limit))

    # -- partner-down -----------------------------------------------------------------

    def partner_down(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                     dry_run: bool = False, actor: str = "library") -> ActionResult:
        """Move ``role`` into partner-down, only when it is safe.

        Safe means: that peer answers and reports communications-interrupted, and its
        partner does not answer over OMAPI from here and is not itself partner-down.
        dhcpd applies any ``local-state`` written to it with no check of its own
        (dhcpd(8), THE FAILOVER-STATE OBJECT, warns that partner-down while the partner
        is alive but unreachable makes address conflicts likely): this guard is the
        only one. ``force=True`` needs a ``reason`` and skips only the check that the
        partner is unreachable from here, never the split-brain check.
        Raises :class:`PartnerDownRefused` with the reason; every call is audited.
        """
        role = Role.parse(role)
        if force and not (reason and reason.strip()):
            raise self._refuse(role, "partner-down", "force needs a reason (what happened to "
                               "the partner), for the audit trail", force, reason, actor)
        before = self.state()
        target, other = before.peer(role), before.peer(role.other)
        if not target.reachable:
            raise self._refuse(role, "partner-down", f"the {role} does not answer over OMAPI "
                               f"({target.error}), so its state cannot be changed", force, reason,
                               actor)
        if target.local_state is FailoverState.PARTNER_DOWN:
            return self._audit(ActionResult(self.name, role, "partner-down", False, dry_run,
                                            f"the {role} is already in partner-down; nothing to do",
                                            before, before, force, reason), actor)
        if target.local_state is not FailoverState.COMMUNICATIONS_INTERRUPTED:
            raise self._refuse(role, "partner-down", f"the {role} is {target.local_state}, not "
                               "communications-interrupted: it can still talk to its partner, "
                               "or is busy with another transition", force, reason, actor)
        if other.local_state is FailoverState.PARTNER_DOWN or \
                target.partner_state is FailoverState.PARTNER_DOWN:
            raise self._refuse(role, "partner-down", f"the {role.other} is itself in "
                               "partner-down: both in partner-down is a split brain (both hand "
                               "out every address)", force, reason, actor)
        if other.reachable and not force:
            raise self._refuse(role, "partner-down", f"the {role.other} still answers over OMAPI "
                               f"from here ({other.local_state}): it is alive, only cut off from "
                               f"the {role}. Partner-down now makes address conflicts likely; "
                               "repair the failover link instead, or use force with a reason "
                               "if you know it cannot serve clients", force, reason, actor)
        if dry_run:
            return self._audit(ActionResult(
                self.name, role, "partner-down", False, True,
                f"would move the {role} from communications-interrupted to partner-down",
                before, None, force, reason), actor)
        self.peer(role).update("failover-state", [("name", self.config.failover_peer.encode())],
                               [("local-state", u32(FailoverState.PARTNER_DOWN))],
                               operation="partner-down")
        after = self.state()
        if after.peer(role).local_state is not FailoverState.PARTNER_DOWN:
            self._audit(ActionResult(self.name, role, "partner-down", True, False,
                                     f"sent, but the {role} reads back "
                                     f"{after.peer(role).local_state}", before, after, force,
                                     reason), actor)
            raise ConvergenceError(f"partner-down was sent but the {role} reads back "
                                   f"{after.peer(role).local_state}", peer=str(role),
                                   operation="partner-down")
        return self._audit(ActionResult(self.name, role, "partner-down", True, False,
                                        f"the {role} is now in partner-down", before, after,
                                        force, reason), actor)

    # -- planned maintenance ----------------------------------------------------------

    def shutdown(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                 dry_run: bool = False, wait: float = 15.0, actor: str = "library") -> ActionResult:
        """Stop ``role``'s dhcpd cleanly for maintenance (OMAPI control object, state 2).

        dhcpd(8), THE CONTROL OBJECT, says dhcpd then moves to shutdown and tells its
        partner. Measured with 4.4.3 in the lab: the server logs "I move from normal to
        shutdown", times out waiting for its partner and exits; the partner only sees
        the connection drop (communications-interrupted, partner still "normal"), so
        a partner-down is still needed for it to serve every address. Refused unless
        the partner answers and is normal (else nobody would serve), unless ``force``.
        Waits up to ``wait`` seconds for the partner to report the change.
        """
        role = Role.parse(role)
        if force and not (reason and reason.strip()):
            raise self._refuse(role, "shutdown", "force needs a reason, for the audit trail",
                               force, reason, actor)
        before = self.state()
        target, other = before.peer(role), before.peer(role.other)
        if not target.reachable:
            raise self._refuse(role, "shutdown", f"the {role} does not answer over OMAPI "
                               f"({target.error})", force, reason, actor)
        if not force and other.local_state is not FailoverState.NORMAL:
            raise self._refuse(role, "shutdown", f"its partner, the {role.other}, is "
                               f"{other.local_state or 'unreachable'}, not normal: nobody "
                               "would be left to serve clients", force, reason, actor)
        if dry_run:
            return self._audit(ActionResult(self.name, role, "shutdown", False, True,
                                            f"would shut down the {role}'s dhcpd; the "
                                            f"{role.other} would take over", before, None,
                                            force, reason), actor)
        self.peer(role).update("control", [], [("state", u32(2))], operation="shutdown",
                               expect_answer=False)
        deadline = time.monotonic() + wait
        after = self.state()
        while time.monotonic() < deadline and after.peer(role.other).partner_state \
                is not FailoverState.SHUTDOWN and after.peer(role.other).local_state not in (
                FailoverState.PARTNER_DOWN, FailoverState.COMMUNICATIONS_INTERRUPTED):
            time.sleep(0.2)
            after = self.state()
        survivor = after.peer(role.other)
        return self._audit(ActionResult(
            self.name, role, "shutdown", True, False,
            f"the {role} was told to shut down; the {role.other} is {survivor.local_state} "
            f"and sees its partner as {survivor.partner_state}", before, after, force, reason),
            actor)

    # -- audit --------------------------------------------------------------------------

    def audit(self, action: str, peer: str, outcome: str, actor: str, detail: str,
              force: bool = False, reason: str | None = None) -> None:
        """One record on the ``omapifo.audit`` logger for a mutating decision (refused,
        dry-run, done); every operation that changes a peer calls it.

        The REST service stores these (SQLite), the CLI appends them to its audit log.
        """
        audit_log.warning("%s %s of %s/%s by %s (force=%s, reason=%r): %s", outcome, action,
                          self.name, peer, actor, force, reason, detail,
                          extra={"omapifo_audit": {"pair": self.name, "peer": peer,
                                                   "action": action, "outcome": outcome,
                                                   "force": force, "reason": reason,
                                                   "actor": actor, "detail": detail}})

    def _refuse(self, role: Role, action: str, why: str, force: bool, reason: str | None,
                actor: str) -> OperationRefused:
        self.audit(action, str(role), "refused", actor, why, force, reason)
        cls = PartnerDownRefused if action == "partner-down" else OperationRefused
        return cls(why, peer=str(role), operation=action)

    def _audit(self, result: ActionResult, actor: str) -> ActionResult:
        outcome = "dry-run" if result.dry_run else ("done" if result.done else "no-op")
        self.audit(result.action, str(result.role), outcome, actor, result.message,
                   result.force, result.reason)
        return result

    def dhcpd_conf(self) -> DhcpdConf | None:
        """The primary's parsed dhcpd.conf (None if not configured), re-read only when the
        file changed, so lease lookups do not parse it every time."""
        path = self.config.dhcpd_conf
        if path is None:
            return None
        mtime = path.stat().st_mtime
        if self._conf is None or self._conf[0] != mtime:
            self._conf = (mtime, parse_file(path))
        return self._conf[1]

    # -- leases (omapifo.leases does the work) ------------------------------------------

    def lease(self, ip: str | None = None, *, mac: str | None = None,
              client_id: str | None = None) -> LeaseView:
        """A lease as both peers see it; see :func:`omapifo.leases.lease_view`."""
        return lease_view(self, ip, mac=mac, client_id=client_id)

    def release(self, ip: str, *, actor: str = "library", wait: float = 5.0,
                dry_run: bool = False) -> LeaseView:
        """Release an active lease (guarded, audited); see :func:`omapifo.leases.release`."""
        return release_lease(self, ip, actor=actor, wait=wait, dry_run=dry_run)

    # -- configuration (omapifo.confcheck does the work) --------------------------------

    def check_config(self, *, run_dhcpd: bool = True) -> list[Finding]:
        """Both servers' dhcpd.conf checked against each other (dhcpd_conf and
        secondary_dhcpd_conf from the configuration)."""
        from .confcheck import check_pair

        if self.config.dhcpd_conf is None or self.config.secondary_dhcpd_conf is None:
            raise ConfigError(f"pair {self.name!r} needs dhcpd_conf and secondary_dhcpd_conf "
                              "in the configuration to check both servers' files")
        return check_pair(self.config.dhcpd_conf, self.config.secondary_dhcpd_conf,
                          run_dhcpd=run_dhcpd)

    # -- pools (omapifo.pools does the work) --------------------------------------------

    def pools(self, *, window: int = DEFAULT_WINDOW, rate: float | None = None,
              progress: Callable[[int, int], None] | None = None) -> PoolReport:
        """Every pool of the pair's dhcpd_conf, counted live on both peers."""
        from .pools import scan_pools  # pools imports leases and scan; keep import light

        return scan_pools(self, window=window, rate=rate, progress=progress)
