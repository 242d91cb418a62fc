"""Pool counts and runway: live over OMAPI (both peers), or offline from dhcpd.leases.

In a failover pool the primary owns ``free`` addresses and the secondary ``backup``
ones (dhcpd.conf(5), THE FAILOVER PROTOCOL). A server cut off from its partner
(communications-interrupted) can hand out only its own share until it is moved to
partner-down, so each peer's *runway* is the size of its share: the primary's free
count and the secondary's backup count, as the primary sees them.

A pair is one failover peer (``PairConfig.failover_peer``): when several failover peers
join the same two servers, each is a pair of its own, and a pair counts only the pools
whose ``failover peer`` statement names its peer. Pools with no ``failover peer`` belong
to no relationship: every pair of those servers lists them too (each server hands them
out alone; no runway), so a sum over several pairs of the same servers counts them once
per pair; :attr:`PoolCounts.failover_peer` is None for them.
"""
from __future__ import annotations

import ipaddress
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

from ._dhcpdconf import DhcpdConf, Pool, parse_file
from ._errors import ConfigError, PeerError
from ._leasefile import last_states
from ._scanreport import ScanReport
from ._leases import LeaseState
from ._pairaccess import PairAccess
from ._scan import Progress, lease_states
from ._states import Role

T = TypeVar("T")


@dataclass(frozen=True)
class PoolCounts:
    name: str
    subnet: str | None
    ranges: tuple[tuple[str, str], ...]
    failover_peer: str | None
    total: int
    active: int
    free: int
    backup: int
    expired: int
    released: int
    abandoned: int
    reset: int
    reserved: int
    bootp: int
    unknown: int  # addresses of the range dhcpd has no lease for
    disagreements: int = 0  # addresses whose binding state the peers report differently
    runway: dict[str, int] = field(default_factory=dict)  # "primary"/"secondary" -> addresses

    @property
    def utilization(self) -> float:
        """Percent of the pool's addresses bound to clients (active, reserved, bootp)."""
        used = self.active + self.reserved + self.bootp
        return round(100.0 * used / self.total, 2) if self.total else 0.0


@dataclass(frozen=True)
class PoolReport(ScanReport[PoolCounts]):
    """Every pool's counts (they always cover every address, even with a peer missing)."""

    @property
    def pools(self) -> tuple[PoolCounts, ...]:
        return self.rows


def _count(pool: Pool, states: Sequence[int | None],
           other: Sequence[int | None] | None = None) -> PoolCounts:
    c = Counter(states)
    disagreements = sum(1 for a, b in zip(states, other, strict=True) if a != b) if other else 0
    free, backup = c[LeaseState.FREE], c[LeaseState.BACKUP]
    return PoolCounts(
        name=pool.name, subnet=str(pool.subnet) if pool.subnet else None,
        ranges=tuple((str(r.first), str(r.last)) for r in pool.ranges),
        failover_peer=pool.failover_peer, total=len(states),
        active=c[LeaseState.ACTIVE], free=free, backup=backup,
        expired=c[LeaseState.EXPIRED], released=c[LeaseState.RELEASED],
        abandoned=c[LeaseState.ABANDONED], reset=c[LeaseState.RESET],
        reserved=c[LeaseState.RESERVED], bootp=c[LeaseState.BOOTP], unknown=c[None],
        disagreements=disagreements,
        runway={"primary": free, "secondary": backup} if pool.failover_peer else {})


def scan_both(pair: PairAccess, scan: Callable[..., list[T]],
              ips: Sequence[ipaddress.IPv4Address], *, window: int | None, rate: float | None,
              progress: Progress | None) -> tuple[dict[Role, list[T]], dict[Role, PeerError]]:
    """``scan`` (:func:`omapifo.lease_states` or ``lease_fields``) over ``ips`` on
    both peers at once: each peer's answers, and each failed peer's error. Raises the
    primary's error when both fail. ``progress`` follows the primary's scan.

    Threads of its own, not pair.on_both: a scan lasts seconds, and the pair's two
    workers must stay free for the state reads of the health poller. ``window`` None: the
    pair's configured ``scan_window``."""
    if window is None:
        window = pair.config.scan_window
    with ThreadPoolExecutor(max_workers=2) as ex:
        futures = {role: ex.submit(scan, pair.peer(role), ips, window=window, rate=rate,
                                   progress=progress if role is Role.PRIMARY else None)
                   for role in Role}
        views: dict[Role, list[T]] = {}
        errors: dict[Role, PeerError] = {}
        for role, fut in futures.items():
            try:
                views[role] = fut.result()
            except PeerError as exc:
                errors[role] = exc
    if not views:
        raise errors[Role.PRIMARY]
    return views, errors


def pair_pools(conf: DhcpdConf, failover_peer: str | None) -> list[Pool]:
    """The pools a pair counts: its failover peer's, and those of no failover peer
    (module docstring); every pool when ``failover_peer`` is None."""
    if failover_peer is None:
        return list(conf.pools)
    return [p for p in conf.pools if p.failover_peer in (failover_peer, None)]


def _addresses(pool: Pool) -> list[ipaddress.IPv4Address]:
    return [ip for r in pool.ranges for ip in r.addresses()]


def pools_from_files(dhcpd_conf: str | os.PathLike[str] | DhcpdConf,
                     leases_file: str | os.PathLike[str], *, pair: str = "",
                     failover_peer: str | None = None) -> PoolReport:
    """Offline counts from a dhcpd.conf and its dhcpd.leases (last record of an address wins).

    With ``failover_peer``, only that peer's pools and those of no failover peer (as
    :func:`scan_pools` counts for a pair); without, every pool of the file."""
    t = time.monotonic()
    conf = dhcpd_conf if isinstance(dhcpd_conf, DhcpdConf) else parse_file(dhcpd_conf)
    last = last_states(leases_file)  # no object per record: counting needs only states
    pools = []
    for pool in pair_pools(conf, failover_peer):
        states = [last.get(n) for r in pool.ranges for n in range(int(r.first), int(r.last) + 1)]
        pools.append(_count(pool, states))
    return PoolReport(pair, tuple(pools), datetime.now(timezone.utc), "leases-file",
                      time.monotonic() - t)


def scan_pools(pair: PairAccess, *, window: int | None = None, rate: float | None = None,
               progress: Progress | None = None, conf: DhcpdConf | None = None) -> PoolReport:
    """The pair's pools' counts from one lookup per address on both peers (pipelined).

    The pair's pools are those of its failover peer (``pair.config.failover_peer``) and
    those of no failover peer: another failover peer's pools between the same servers
    are another pair's.

    Counts are the primary's view (the secondary's when the primary's scan fails);
    ``disagreements`` counts addresses the peers see differently. A peer's scan either
    covers every address or fails: never partial counts. One failed peer is named in
    ``errors`` (and the report is not ``complete``); both failed raises.
    """
    if conf is None:
        conf = pair.dhcpd_conf()  # parsed once, re-read only when the file changes
        if conf is None:
            raise ConfigError(f"pair {pair.name!r} has no dhcpd_conf: pools come from the "
                              "configuration (dhcpd has no OMAPI object for pools)")
    t = time.monotonic()
    mine = pair_pools(conf, pair.config.failover_peer)
    ips = [ip for pool in mine for ip in _addresses(pool)]
    views, errors = scan_both(pair, lease_states, ips, window=window, rate=rate,
                              progress=progress)
    main = views.get(Role.PRIMARY) or views[Role.SECONDARY]
    other = views.get(Role.SECONDARY) if Role.PRIMARY in views else None
    pools, offset = [], 0
    for pool in mine:
        n = pool.size
        pools.append(_count(pool, main[offset:offset + n],
                            other[offset:offset + n] if other else None))
        offset += n
    return PoolReport(pair.name, tuple(pools), datetime.now(timezone.utc), "omapi",
                      time.monotonic() - t, {r: str(e) for r, e in errors.items()})

