"""A failover pair: both peers' state, health, and the guarded state changes.

    pair = FailoverPair(config, audit=JsonLinesAudit("audit.log"))
    st = pair.state()                      # both peers, read concurrently
    st.primary.local_state                 # FailoverState.NORMAL
    pair.partner_down("secondary")         # refuses unless the evidence says it is safe

Every change (partner-down, shutdown, lease release) goes the same way: the attempt is
recorded in the audit sink before anything is sent (no sink, or a sink that cannot
write: refused); the pair's lock is taken (one change of a pair at a time on this
host); both peers are read; :mod:`omapifo.guards` decides; the change is sent; both
peers are read again; the outcome completes the record.
"""
from __future__ import annotations

import logging
import time
from ipaddress import IPv4Address
from pathlib import Path
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from types import TracebackType
from typing import Mapping, TypeVar

from . import faults, guards, hostactions, maintenance, pairlock
from .audit import AuditRecord, AuditSink, Outcome, clean_text
from .confcheck import Finding, check_pair
from .config import Config, Endpoint, PairConfig
from .contract import EVERY_OPERATION, Operation
from .dhcpdconf import DhcpdConf, parse_file
from .errors import (NOT_TAKEN, AuditUnavailable, ConfigError, ConvergenceError,
                     OperationRefused, PartnerDownRefused, PeerError, ReleaseRefused)
from .health import DEFAULT_COMMS_INTERRUPTED_LIMIT, assess
from .hosts import Host, HostComparison, HostView, compare_host_files, host_lookup, host_view
from .maintenance import MaintenanceReport, MaintenanceStep, Observation
from .leases import LeaseState, LeaseView, lease_view, parse_ip, wait_not_active
from .omapi import (OmapiPeer, failover_state_lookup, ip_bytes, local_state_change,
                    shutdown_change, u32)
from .pairstate import ActionResult, PairState, PeerView
from .leaselist import LeaseList, list_leases
from .pools import PoolReport, scan_pools
from .states import FailoverState, FailoverStatus, Role

log = logging.getLogger("omapifo.actions")
T = TypeVar("T")

__all__ = ["ActionResult", "FailoverPair", "PairState", "PeerView", "open_pair"]


class _Attempt:
    """One audited attempt: its record id, whether anything was sent, its outcome."""

    def __init__(self, sink: AuditSink, record_id: str, action: str, peer: str) -> None:
        self.sink, self.id, self.action, self.peer = sink, record_id, action, peer
        self.sent = False
        self.outcome: Outcome | None = None

    def close(self, outcome: Outcome, detail: str) -> None:
        """Complete the record. The change (if any) is already made, so a sink that fails
        now is logged, not raised: the record then stays "unknown", which is the truth."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        try:
            self.sink.finish(self.id, outcome, detail)
        except Exception:  # noqa: BLE001 - any sink failure; the action's result stands
            log.exception("could not record the outcome (%s) of %s of %s; the audit record "
                          "%s stays 'unknown'", outcome, self.action, self.peer, self.id)

    def refuse(self, why: str, cls: type[OperationRefused] = OperationRefused
               ) -> OperationRefused:
        self.close(Outcome.REFUSED, why)
        return cls(why, peer=self.peer, operation=self.action)

    def fail(self, exc: BaseException, detail: str) -> None:
        """Complete the record after ``exc``: failed when nothing reached dhcpd (nothing
        sent yet, or dhcpd said no / no connection was made: errors.NOT_TAKEN), else
        unknown (it may have happened)."""
        taken = self.sent and not isinstance(exc, NOT_TAKEN)
        self.close(Outcome.UNKNOWN if taken else Outcome.FAILED, detail)


class FailoverPair:
    """Both servers of one ISC dhcpd failover pair, over OMAPI.

    ``peers`` replaces the OMAPI connections (tests hand in fakes); ``audit`` is where
    every change is recorded first: without one, reading works and every change is
    refused. ``actor`` is who the record names when a change names nobody; ``scan_rate``
    caps the pool and lease scans (requests a second per peer) when a call gives none.
    Thread-safe: each peer's connection has its own lock, and changes of the pair take
    its lock file. Close it (or use ``with``) to drop the connections.

    It implements the pair contract (:class:`omapifo.contract.Pair`), every operation.
    """

    supports: frozenset[Operation] = EVERY_OPERATION

    def __init__(self, config: PairConfig, *, peers: Mapping[Role, OmapiPeer] | None = None,
                 audit: AuditSink | None = None,
                 comms_interrupted_limit: float = DEFAULT_COMMS_INTERRUPTED_LIMIT,
                 lock_wait: float = pairlock.DEFAULT_WAIT, actor: str = "library",
                 scan_rate: float | None = None) -> None:
        self.config = config
        self.actor = actor  # who the audit records as acting when a call names nobody
        self.scan_rate = scan_rate  # the pools/leases scans' cap when a call gives none
        self.name = config.name
        self.comms_interrupted_limit = comms_interrupted_limit
        self.audit_sink = audit
        self.lock_wait = lock_wait
        self.lock_path = pairlock.lock_path(config.lock_dir, config.name)
        self.peers: dict[Role, OmapiPeer] = dict(peers) if peers is not None else {
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
        obj = self.peer(role).open("failover-state",
                                   failover_state_lookup(self.config.failover_peer),
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
            return PeerView.failed(role, self.endpoint(role), exc)

    def on_both(self, fn: Callable[[Role], T]) -> tuple[T, T]:
        """``(fn(PRIMARY), fn(SECONDARY))``, the two called concurrently (the secondary on
        the pair's worker thread): a dead peer's timeout does not delay the live one."""
        fut = self._pool.submit(fn, Role.SECONDARY)
        primary = fn(Role.PRIMARY)
        return primary, fut.result()

    def state(self) -> PairState:
        """Both peers' failover state, read concurrently, with the pair's health.

        A peer that cannot be read is a view with ``error``, ``error_kind`` and
        ``evidence`` (what the failure tells: omapifo.evidence), never an exception."""
        primary, secondary = self.on_both(self.view)
        now = datetime.now(timezone.utc)
        return PairState(self.name, primary, secondary, now,
                         assess(primary, secondary, now, self.comms_interrupted_limit))

    # -- changes: audited first, one at a time, decided by omapifo.guards --------------

    @contextmanager
    def _attempt(self, action: str, peer: str, *, actor: str | None, force: bool = False,
                 reason: str | None = None) -> Iterator[_Attempt]:
        """Record the attempt, then hold the pair's lock while the body decides and acts.

        Raises AuditUnavailable (nothing sent) when the attempt cannot be recorded. A body
        that leaves without closing the attempt completes it here: refused for a guard's
        refusal, failed when nothing was sent, unknown when something was.
        """
        if self.audit_sink is None:
            raise AuditUnavailable(f"{action} needs an audit sink: FailoverPair(config, "
                                   "audit=JsonLinesAudit(path)) or the service's store; "
                                   "nothing was sent", peer=peer, operation=action)
        record = AuditRecord(datetime.now(timezone.utc), clean_text(actor or self.actor) or "?",
                             self.name,
                             peer, action, force, clean_text(reason))
        attempt = _Attempt(self.audit_sink, self.audit_sink.begin(record), action, peer)
        try:
            with pairlock.hold(self.lock_path, pair=self.name, operation=action,
                               wait=self.lock_wait):
                yield attempt
        except OperationRefused as exc:
            attempt.close(Outcome.REFUSED, exc.message)
            raise
        except BaseException as exc:
            attempt.fail(exc, f"{type(exc).__name__}: {exc}")
            raise
        if attempt.outcome is None:  # a body that returned without saying: a bug, not a fact
            attempt.close(Outcome.UNKNOWN, "the action ended without recording its outcome")

    def _send(self, attempt: _Attempt, role: Role, type_: str,
              lookup: Sequence[tuple[str, bytes]], changes: Sequence[tuple[str, bytes]], *,
              expect_answer: bool = True) -> None:
        """Send one update as part of ``attempt``. A failure is raised; left unhandled, the
        attempt records it (failed when dhcpd did not take it, else unknown: _Attempt.fail)."""
        faults.point("before-send")
        attempt.sent = True
        self.peer(role).update(type_, lookup, changes, operation=attempt.action,
                               expect_answer=expect_answer)
        faults.point("after-send")

    def partner_down(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                     dry_run: bool = False, actor: str | None = None) -> ActionResult:
        """Move ``role`` into partner-down when the evidence says it is safe.

        See :func:`omapifo.guards.partner_down` for the rules: the partner's host refusing
        the connection (dhcpd stopped) proceeds; a partner that cannot be reached needs
        ``force`` with a ``reason``; a partner that answers but cannot be read, and a
        split brain, are refused even with force. Both peers are read under the pair's
        lock immediately before the change and again after it; if the read after shows
        both in partner-down, the result says SPLIT BRAIN. Raises
        :class:`PartnerDownRefused` with the reason; every call is audited first.
        """
        role = Role.parse(role)
        action = "partner-down"
        with self._attempt(action, str(role), actor=actor, force=force, reason=reason) as att:
            why = guards.needs_reason(force, reason)
            if why:
                raise att.refuse(why, PartnerDownRefused)
            before = self.state()
            decision = guards.partner_down(role, before, force=force)

            def result(done: bool, message: str, after: PairState | None) -> ActionResult:
                return ActionResult(self.name, role, action, done, dry_run, message, before,
                                    after, force, reason, evidence=decision.partner,
                                    split_brain=bool(after and after.split_brain))
            if decision.no_op:
                att.close(Outcome.NO_OP, decision.why)
                return result(False, decision.why, before)
            if not decision.proceed:
                raise att.refuse(decision.why, PartnerDownRefused)
            if dry_run:
                message = f"would move the {role} from communications-interrupted to " \
                          f"partner-down ({decision.why})"
                att.close(Outcome.DRY_RUN, message)
                return result(False, message, None)
            lookup = failover_state_lookup(self.config.failover_peer)
            try:
                self._send(att, role, "failover-state", lookup,
                           local_state_change(FailoverState.PARTNER_DOWN))
            except PeerError as exc:
                if isinstance(exc, NOT_TAKEN):
                    raise  # dhcpd did not take it: the attempt records it as failed
                after = self.state()  # no answer: did it happen?
                if after.peer(role).local_state is not FailoverState.PARTNER_DOWN:
                    raise
                log.warning("no answer to the partner-down of %s/%s (%s), but it reads back "
                            "partner-down", self.name, role, exc)
            else:
                after = self.state()
            now = after.peer(role).local_state
            if now is not FailoverState.PARTNER_DOWN:
                att.close(Outcome.UNKNOWN, f"sent and acknowledged, but the {role} reads back "
                          f"{now}")
                raise ConvergenceError(f"partner-down was sent but the {role} reads back {now}",
                                       peer=str(role), operation=action)
            message = f"the {role} is now in partner-down ({decision.why})"
            if after.split_brain:
                message = (f"SPLIT BRAIN: the {role} is now in partner-down, and the "
                           f"{role.other} is in partner-down too: both hand out every address. "
                           f"Stop one dhcpd now ({guards.RUNBOOK_SPLIT_BRAIN})")
                log.error("%s: %s", self.name, message)
            att.close(Outcome.DONE, message)
            return result(True, message, after)

    # -- planned maintenance ----------------------------------------------------------

    def shutdown(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                 dry_run: bool = False, wait: float = 15.0,
                 actor: str | None = None) -> ActionResult:
        """Stop ``role``'s dhcpd cleanly for maintenance (OMAPI control object, state 2).

        dhcpd(8), THE CONTROL OBJECT, says dhcpd then moves to shutdown and tells its
        partner. Measured with 4.4.3 in the lab: the server logs "I move from normal to
        shutdown", times out waiting for its partner and exits; the partner only sees
        the connection drop (communications-interrupted, partner still "normal"), so
        a partner-down is still needed for it to serve every address. Refused unless
        the partner reads normal (:func:`omapifo.guards.shutdown`), unless ``force``.
        Waits up to ``wait`` seconds for the partner to report the change.
        """
        role = Role.parse(role)
        action = "shutdown"
        with self._attempt(action, str(role), actor=actor, force=force, reason=reason) as att:
            why = guards.needs_reason(force, reason)
            if why:
                raise att.refuse(why)
            before = self.state()
            decision = guards.shutdown(role, before, force=force)
            if not decision.proceed:
                raise att.refuse(decision.why)
            if dry_run:
                message = f"would shut down the {role}'s dhcpd ({decision.why})"
                att.close(Outcome.DRY_RUN, message)
                return ActionResult(self.name, role, action, False, True, message, before, None,
                                    force, reason, evidence=decision.partner)
            # dhcpd does not answer a control-object shutdown: no answer is success
            self._send(att, role, "control", [], shutdown_change(), expect_answer=False)
            deadline = time.monotonic() + wait
            after = self.state()
            while time.monotonic() < deadline and after.peer(role.other).partner_state \
                    is not FailoverState.SHUTDOWN and after.peer(role.other).local_state not in (
                    FailoverState.PARTNER_DOWN, FailoverState.COMMUNICATIONS_INTERRUPTED):
                time.sleep(0.2)
                after = self.state()
            survivor = after.peer(role.other)
            message = (f"the {role} was told to shut down; the {role.other} is "
                       f"{survivor.local_state} and sees its partner as {survivor.partner_state}")
            att.close(Outcome.DONE, message)
            return ActionResult(self.name, role, action, True, False, message, before, after,
                                force, reason, evidence=decision.partner)

    def maintenance(self, role: Role | str, *, reason: str | None = None, dry_run: bool = False,
                    wait: float = maintenance.DEFAULT_STOP_WAIT, actor: str | None = None,
                    on_step: Callable[[MaintenanceStep], None] | None = None
                    ) -> MaintenanceReport:
        """Planned maintenance of ``role`` in one step: shut it down, wait until its host
        refuses the connection and its partner is communications-interrupted, move the
        partner to partner-down; see :func:`omapifo.maintenance.start` (the steps, the
        guards, what was measured). Raises OperationRefused unless both peers are normal.

        One attempt, one audit record for the whole sequence, the pair's lock held
        throughout: nobody else changes the pair between our shutdown and our
        partner-down (the partner-down is ours because we stopped that server). The
        record ends ``done``, ``dry-run``, ``partial`` (shut down, then stopped by a
        guard or a timeout) or ``failed``; its detail lists every step.
        """
        role = Role.parse(role)
        action = "maintenance"
        if wait < maintenance.MIN_STOP_WAIT:  # bad input: before any record or traffic
            raise ValueError(f"wait must be at least {maintenance.MIN_STOP_WAIT:g} s, not "
                             f"{wait:g}: the partner notices the stop 8-12 s after the "
                             "shutdown (measured), so a shorter wait stops half-way, the "
                             "server down and its partner not in partner-down")
        with self._attempt(action, str(role), actor=actor, reason=reason) as att:
            name = failover_state_lookup(self.config.failover_peer)
            report = maintenance.start(
                self.name, role, self.state,
                # dhcpd does not answer a control-object shutdown: no answer is success
                lambda: self._send(att, role, "control", [], shutdown_change(),
                                   expect_answer=False),
                lambda: self._send(att, role.other, "failover-state", name,
                                   local_state_change(FailoverState.PARTNER_DOWN)),
                dry_run=dry_run, reason=reason, wait=wait, on_step=on_step)
            outcome = (Outcome.DRY_RUN if report.dry_run else Outcome.DONE if report.completed
                       else Outcome.PARTIAL if report.changed
                       else Outcome.UNKNOWN if report.uncertain else Outcome.FAILED)
            (log.info if report.completed or report.dry_run else log.warning)(
                "%s: maintenance of the %s: %s", self.name, role, report.message)
            att.close(outcome, report.summary())
            return report

    def follow_recovery(self, *, timeout: float | None = None) -> Iterator[Observation]:
        """Both peers' states as they change, until both are normal (after maintenance,
        once dhcpd runs again); see :func:`omapifo.maintenance.follow_recovery`."""
        return maintenance.follow_recovery(self.state, timeout=timeout)

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

    def release(self, ip: str, *, actor: str | None = None, wait: float = 5.0,
                dry_run: bool = False) -> LeaseView:
        """Release an active lease on the peer that serves it, then wait until neither peer
        reports it active (bounded by ``wait``). Refuses a lease that is not active, and
        any release while a peer answers but cannot be read or both peers are in
        partner-down (:func:`guards.release`).

        The update sets the lease object's ``state`` to 4 (released); measured on the lab,
        the partner acknowledges and the address goes to ``backup`` on both within a second.
        """
        addr = str(parse_ip(ip))  # bad input: ValueError before any record or traffic
        with self._attempt("release", addr, actor=actor) as att:
            before = lease_view(self, addr)
            if before.state is not LeaseState.ACTIVE:
                raise att.refuse(f"{before.ip} is {before.state}, not active: nothing to "
                                 "release", ReleaseRefused)
            serving = before.serving or next(r for r in Role if (le := before.peer(r))
                                             and le.state is LeaseState.ACTIVE)
            decision = guards.release(serving, before.evidence, before.errors,
                                      split_brain=self.state().split_brain)
            if not decision.proceed:
                raise att.refuse(decision.why, ReleaseRefused)
            if dry_run:
                att.close(Outcome.DRY_RUN, f"would release {addr} on the {serving}")
                return before
            self._send(att, serving, "lease", [("ip-address", ip_bytes(addr))],
                       [("state", u32(LeaseState.RELEASED))])
            try:
                after = wait_not_active(self, addr, wait)
            except ConvergenceError as exc:
                att.close(Outcome.DONE, f"released {addr} on the {serving}; {exc.message}")
                raise
            att.close(Outcome.DONE, f"released {addr} on the {serving}; now primary "
                      f"{after.primary and after.primary.state}, secondary "
                      f"{after.secondary and after.secondary.state}")
            return after

    # -- host reservations (omapifo.hosts and omapifo.hostactions do the work) ----------

    def host(self, name: str | None = None, *, mac: str | None = None,
             ip: str | None = None) -> HostView:
        """A host reservation as both peers see it; see :func:`omapifo.hosts.host_view`."""
        return host_view(self, name, mac=mac, ip=ip)

    def hosts(self, leases: hostactions.Files | None = None) -> HostComparison:
        """Every host reservation dhcpd keeps in both peers' dhcpd.leases (``leases``,
        default the pair's ``dhcpd_leases`` and ``secondary_dhcpd_leases``), compared
        name by name. dhcpd cannot list its hosts over OMAPI: only the files can.
        ConfigError when neither is given."""
        files = leases or self.config.leases_files
        if files is None:
            raise ConfigError(f"pair {self.name!r}: listing hosts reads both peers' "
                              "dhcpd.leases (dhcpd cannot list its hosts over OMAPI): set "
                              "dhcpd_leases and secondary_dhcpd_leases in the configuration")
        return compare_host_files(*files)

    def add_host(self, name: str, *, ip: str, mac: str | None = None,
                 client_id: str | None = None, dry_run: bool = False, actor: str | None = None,
                 leases: hostactions.Files | None = None) -> HostView:
        """Reserve ``ip`` for a client on both peers (dhcpd does not replicate hosts).

        Refused (:class:`HostRefused`) when a peer cannot be read, the address is in a
        dynamic range or outside every subnet, or a peer already has its address, MAC or
        client id under another host. ``leases`` (the primary's and the secondary's
        dhcpd.leases; default: the pair's ``dhcpd_leases`` and ``secondary_dhcpd_leases``)
        adds the hosts dhcpd wrote there to that check; OMAPI cannot find a host by its
        address, so without both files the add is refused. Created on the primary, then
        the secondary, and read back
        from both; if the secondary fails it is removed from the primary again
        (:class:`PartialChange` if that fails too). Audited first, like every change.
        """
        host = Host.make(name, ip=ip, mac=mac, client_id=client_id)  # ValueError first
        with self._attempt("add host", host.name, actor=actor) as att:
            return hostactions.add(self, att, host, dry_run=dry_run,
                                   files=leases or self.config.leases_files)

    def delete_host(self, name: str | None = None, *, mac: str | None = None,
                    dry_run: bool = False, actor: str | None = None) -> HostView:
        """Remove a host (by name or MAC) from every peer that holds it; refused while a
        peer cannot be read. Returns the view after (both None)."""
        host_lookup(name, mac=mac)  # bad input: ValueError before any record or traffic
        with self._attempt("delete host", str(name or mac), actor=actor) as att:
            return hostactions.delete(self, att, name, mac, dry_run=dry_run)

    def sync_host(self, name: str, *, dry_run: bool = False, actor: str | None = None,
                  leases: hostactions.Files | None = None) -> HostView:
        """Create a host that one peer holds on the other, with the same values (the same
        guards as :meth:`add_host`); a host on both is left alone (no-op when identical,
        refused when they differ)."""
        host_lookup(name)
        with self._attempt("sync host", name, actor=actor) as att:
            return hostactions.sync(self, att, name, dry_run=dry_run,
                                    files=leases or self.config.leases_files)

    # -- configuration (omapifo.confcheck does the work) --------------------------------

    def check_config(self, *, run_dhcpd: bool = True) -> list[Finding]:
        """Both servers' dhcpd.conf checked against each other (dhcpd_conf and
        secondary_dhcpd_conf from the configuration)."""
        if self.config.dhcpd_conf is None or self.config.secondary_dhcpd_conf is None:
            raise ConfigError(f"pair {self.name!r} needs dhcpd_conf and secondary_dhcpd_conf "
                              "in the configuration to check both servers' files")
        return check_pair(self.config.dhcpd_conf, self.config.secondary_dhcpd_conf,
                          run_dhcpd=run_dhcpd)

    # -- pools (omapifo.pools does the work) --------------------------------------------

    def pools(self, *, window: int | None = None, rate: float | None = None,
              progress: Callable[[int, int], None] | None = None) -> PoolReport:
        """Every pool of the pair's dhcpd_conf, counted live on both peers (``window``
        None: the configuration's ``scan_window``)."""
        return scan_pools(self, window=window, rate=self.scan_rate if rate is None else rate,
                          progress=progress)

    # -- lease lists (omapifo.leaselist does the work) ----------------------------------

    def leases(self, subnet: str | None = None, state: LeaseState | str | None = None,
               hostname: str | None = None, *, after: IPv4Address | str | None = None,
               limit: int | None = None, window: int | None = None,
               rate: float | None = None,
               progress: Callable[[int, int], None] | None = None) -> LeaseList:
        """The leases of the pair's pools, one row per address, live from both peers."""
        return list_leases(self, subnet=subnet, state=state, hostname=hostname, after=after,
                           limit=limit, window=window,
                           rate=self.scan_rate if rate is None else rate, progress=progress)


def open_pair(config: Config, name: str, *, audit: AuditSink | None = None,
              actor: str = "library",
              leases_files: tuple[Path, Path] | None = None) -> FailoverPair:
    """The :class:`FailoverPair` of the pair ``name`` in ``config``, rated with the
    service's ``comms_interrupted_warning``, its scans capped at ``pool_scan_rate``;
    changes need ``audit`` (omapifo.audit) and are recorded as ``actor``'s.
    ``leases_files`` (the primary's and the secondary's dhcpd.leases, copies perhaps)
    stand in for the configuration's ``dhcpd_leases`` and ``secondary_dhcpd_leases``.
    Connections are made on first use; close the pair (or use ``with``) to drop them.
    ConfigError names the configured pairs when ``name`` is not one of them."""
    pair_config = config.pair_config(name)
    if leases_files is not None:
        pair_config = replace(pair_config, dhcpd_leases=leases_files[0],
                              secondary_dhcpd_leases=leases_files[1])
    return FailoverPair(pair_config, audit=audit, actor=actor,
                        comms_interrupted_limit=config.service.comms_interrupted_warning,
                        scan_rate=config.service.pool_scan_rate)
