"""A failover pair: both peers' state, health, and the guarded state changes.

    pair = FailoverPair(config, audit=JsonLinesAudit("audit.log"))
    st = pair.state()                      # both peers, read concurrently
    st.primary.local_state                 # FailoverState.NORMAL
    pair.partner_down("secondary")         # refuses unless the evidence says it is safe

The pair holds the two connections, reads the state and caches dhcpd.conf; every change
(partner-down, shutdown, release, host add/delete/sync, maintenance) goes the same way:
the pair opens an attempt (:mod:`omapifo._attempt`: recorded in the audit sink before
anything is sent, the pair's lock held) and hands it, with itself as the pair access
(:mod:`omapifo._pairaccess`), to the action's own module (:mod:`omapifo._partnerdown`,
:mod:`omapifo._shutdown`, :mod:`omapifo._release`, :mod:`omapifo._hostactions`,
:mod:`omapifo._maintenance`): both peers are read, :mod:`omapifo._guards` decides, the
attempt sends, both peers are read again, and the outcome completes the record.
"""
from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timezone
from types import TracebackType
from typing import Mapping, TypeVar

from . import _hostactions as hostactions, _maintenance as maintenance, _pairlock as pairlock
from ._attempt import Attempt, open_attempt
from ._audit import AuditSink
from ._confcheck import Finding, check_pair
from ._config import Config, Endpoint, PairConfig
from ._contract import EVERY_OPERATION, Operation
from ._dhcpdconf import DhcpdConf, parse_file
from ._errors import ConfigError, PeerError
from ._health import DEFAULT_COMMS_INTERRUPTED_LIMIT, assess
from ._hosts import Host, HostComparison, HostView, compare_host_files
from ._lookups import host_view, lease_view
from ._maintenance import MaintenanceReport, MaintenanceStep, Observation
from ._leases import LeaseState, LeaseView
from ._omapi import OmapiPeer, host_lookup, parse_ip
from ._pairstate import ActionResult, PairState, PeerView
from ._partnerdown import partner_down
from ._leaselist import LeaseList, list_leases
from ._pools import PoolReport, scan_pools
from ._probe import (DEFAULT_TIMEOUT as PROBE_TIMEOUT, PairProbe, probe, raise_no_giaddr,
                     readable_conf)
from ._release import release
from ._shutdown import shutdown
from ._states import FailoverStatus, Role
from ._wire import read_status

T = TypeVar("T")

__all__ = ["ActionResult", "FailoverPair", "PairState", "PeerView", "open_pair"]


class FailoverPair:
    """Both servers of one ISC dhcpd failover pair, over OMAPI.

    ``peers`` replaces the OMAPI connections (tests hand in fakes); ``audit`` is where
    every change is recorded first: without one, reading works and every change is
    refused. ``actor`` is who the record names when a change names nobody; ``scan_rate``
    caps the pool and lease scans (requests a second per peer) when a call gives none.
    Thread-safe: each peer's connection has its own lock, and changes of the pair take
    its lock file. Close it (or use ``with``) to drop the connections.

    It implements the pair contract (:class:`omapifo.Pair`), every operation.
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
        return read_status(self.peer(role), self.config.failover_peer)

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
        ``evidence`` (what the failure tells: omapifo._evidence), never an exception."""
        primary, secondary = self.on_both(self.view)
        now = datetime.now(timezone.utc)
        return PairState(self.name, primary, secondary, now,
                         assess(primary, secondary, now, self.comms_interrupted_limit))

    # -- changes: audited first, one at a time, decided by omapifo._guards --------------

    def _attempt(self, action: str, peer: str, *, actor: str | None, force: bool = False,
                 reason: str | None = None) -> AbstractContextManager[Attempt]:
        """An audited attempt on this pair (omapifo._attempt.open_attempt), as ``actor`` or,
        when it names nobody, the pair's own actor."""
        return open_attempt(self, self.audit_sink, action, peer, actor=actor or self.actor,
                            lock_path=self.lock_path, lock_wait=self.lock_wait, force=force,
                            reason=reason)

    def partner_down(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                     dry_run: bool = False, actor: str | None = None) -> ActionResult:
        """Move ``role`` into partner-down when the evidence says it is safe.

        See :func:`omapifo._guards.partner_down` for the rules: the partner's host refusing
        the connection (dhcpd stopped) proceeds; a partner that cannot be reached needs
        ``force`` with a ``reason``; a partner that answers but cannot be read, and a
        split brain, are refused even with force. Both peers are read under the pair's
        lock immediately before the change and again after it; if the read after shows
        both in partner-down, the result says SPLIT BRAIN. Raises
        :class:`PartnerDownRefused` with the reason; every call is audited first.
        """
        role = Role.parse(role)
        with self._attempt("partner-down", str(role), actor=actor, force=force,
                           reason=reason) as att:
            return partner_down(self, att, role, force=force, reason=reason, dry_run=dry_run)

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
        the partner reads normal (:func:`omapifo._guards.shutdown`), unless ``force``.
        Waits up to ``wait`` seconds for the partner to report the change.
        """
        role = Role.parse(role)
        with self._attempt("shutdown", str(role), actor=actor, force=force,
                           reason=reason) as att:
            return shutdown(self, att, role, force=force, reason=reason, dry_run=dry_run,
                            wait=wait)

    def maintenance(self, role: Role | str, *, reason: str | None = None, dry_run: bool = False,
                    wait: float = maintenance.DEFAULT_STOP_WAIT, actor: str | None = None,
                    on_step: Callable[[MaintenanceStep], None] | None = None
                    ) -> MaintenanceReport:
        """Planned maintenance of ``role`` in one step: shut it down, wait until its host
        refuses the connection and its partner is communications-interrupted, move the
        partner to partner-down; see :func:`omapifo._maintenance.start` (the steps, the
        guards, what was measured). Raises OperationRefused unless both peers are normal.

        One attempt, one audit record for the whole sequence, the pair's lock held
        throughout: nobody else changes the pair between our shutdown and our
        partner-down (the partner-down is ours because we stopped that server). The
        record ends ``done``, ``dry-run``, ``partial`` (shut down, then stopped by a
        guard or a timeout) or ``failed``; its detail lists every step.
        """
        role = Role.parse(role)
        maintenance.check_wait(wait)  # bad input: before any record or traffic
        with self._attempt("maintenance", str(role), actor=actor, reason=reason) as att:
            return maintenance.start(self, att, role, dry_run=dry_run, reason=reason,
                                     wait=wait, on_step=on_step)

    def follow_recovery(self, *, timeout: float | None = None) -> Iterator[Observation]:
        """Both peers' states as they change, until both are normal (after maintenance,
        once dhcpd runs again); see :func:`omapifo.follow_recovery`."""
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

    def probe(self, roles: Sequence[Role | str] = tuple(Role), *,
              timeout: float = PROBE_TIMEOUT, secs: int | None = None,
              macs: Mapping[Role, str] | None = None) -> PairProbe:
        """One round of DHCP probes of ``roles`` from the pair's ``probe_giaddr``: does
        each server answer a client (omapifo._probe)? Both peers are read first for their
        load balance max seconds (``secs`` None: above it); ``macs`` replaces a server's
        probe hardware address (within PROBE_MAC_PREFIX). ConfigError when the pair has
        no probe address, ProbeError when this host cannot send from it."""
        if self.config.probe_giaddr is None:  # said before any OMAPI read
            raise_no_giaddr(self.config)
        return probe(self.config, roles, state=self.state(),
                     conf=readable_conf(self.dhcpd_conf), timeout=timeout, secs=secs, macs=macs)

    # -- leases (omapifo._lookups and omapifo._release do the work) --------------------

    def lease(self, ip: str | None = None, *, mac: str | None = None,
              client_id: str | None = None) -> LeaseView:
        """A lease as both peers see it; see :func:`omapifo._lookups.lease_view`."""
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
            return release(self, att, addr, wait=wait, dry_run=dry_run)

    # -- host reservations (omapifo._hosts and omapifo._hostactions do the work) ----------

    def host(self, name: str | None = None, *, mac: str | None = None,
             ip: str | None = None) -> HostView:
        """A host reservation as both peers see it; see :func:`omapifo._lookups.host_view`."""
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

    # -- configuration (omapifo._confcheck does the work) --------------------------------

    def check_config(self, *, run_dhcpd: bool = True) -> list[Finding]:
        """Both servers' dhcpd.conf checked against each other (dhcpd_conf and
        secondary_dhcpd_conf from the configuration)."""
        if self.config.dhcpd_conf is None or self.config.secondary_dhcpd_conf is None:
            raise ConfigError(f"pair {self.name!r} needs dhcpd_conf and secondary_dhcpd_conf "
                              "in the configuration to check both servers' files")
        return check_pair(self.config.dhcpd_conf, self.config.secondary_dhcpd_conf,
                          run_dhcpd=run_dhcpd)

    # -- pools (omapifo._pools does the work) --------------------------------------------

    def pools(self, *, window: int | None = None, rate: float | None = None,
              progress: Callable[[int, int], None] | None = None) -> PoolReport:
        """Every pool of the pair's dhcpd_conf, counted live on both peers (``window``
        None: the configuration's ``scan_window``)."""
        return scan_pools(self, window=window, rate=self.scan_rate if rate is None else rate,
                          progress=progress)

    # -- lease lists (omapifo._leaselist does the work) ----------------------------------

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
    changes need ``audit`` (omapifo._audit) and are recorded as ``actor``'s.
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
