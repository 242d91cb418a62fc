"""Lease lists of a pair (live over OMAPI, or offline from a dhcpd.leases), and a search
for a lease across pairs.

A live list asks both peers about every address of the pair's pools (the pools of
:func:`omapifo._pools.pair_pools`) with the pipelined scan of :mod:`omapifo._scan`, keeping
the few attributes a list shows. dhcpd has no OMAPI object for pools and no way to walk
its leases (dhcpd(8), THE LEASE OBJECT: a lease is opened by address, hardware address or
client identifier), so a list is a scan, and the addresses come from dhcpd.conf.

**One row per address, for the pair.** Both peers hold every lease of a failover pool
(dhcpd.conf(5), THE FAILOVER PROTOCOL), so a list shows each address once, as the pair
serves it, the way dhcpd-pools and Kea's ``lease4-get-all`` show one lease per address:

- ``state`` is the pair's binding state: the peers' common state; when they disagree,
  ``active`` if either holds an active binding (a client may be using the address),
  else the primary's (:attr:`omapifo.LeaseView.state`, the same rule);
- ``served_by`` is the peer that served the client: the one that recorded ``cltt``
  (measured: the serving peer alone records it and the client's hostname);
- hardware address, hostname, starts and ends are the serving peer's (else the
  primary's, else the secondary's);
- ``primary_state`` and ``secondary_state`` keep each peer's own state, so a row whose
  peers disagree shows it (``disagree``).

A peer that cannot be scanned is named in ``errors`` and the rows are the other peer's
view; both failing raises, as for pool counts.
"""
from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ._dhcpdconf import DhcpdConf
from ._errors import ConfigError, NotFound, PeerError, Refused
from ._leasefile import read_leases
from ._leases import LeaseState, LeaseView
from ._lookups import lease_view
from ._omapi import hex_bytes, hex_or_none, lease_lookup, parse_ip, parse_mac
from ._pairaccess import PairAccess
from ._pools import pair_pools, scan_both
from ._scanreport import ScanReport
from ._scan import LeaseFields, Progress, lease_fields
from ._states import Role
from ._wire import read_lease

__all__ = ["LeaseEntry", "LeaseList", "LeaseMatch", "LeaseSearch", "find_leases",
           "leases_from_file", "list_leases"]

# A page that asks for `limit` rows scans this many addresses first, then twice as many
# each round (a filter may match few addresses), up to the most one round scans.
_FIRST_CHUNK, _MOST_CHUNK = 256, 16384
_HOSTNAME_RE = re.compile(r"[^\s]{1,253}")  # fullmatch: "$" also matches before "\n"
# A search answers at most this many matches (``truncated`` says when there were more): a
# pattern such as "*" matches every lease of a /16, and a scan stops once it has them.
MAX_MATCHES = 1000


@dataclass(frozen=True)
class LeaseEntry:
    """One address of a lease list, as the pair serves it (module docstring)."""

    ip: ipaddress.IPv4Address
    state: LeaseState | None
    hardware_address: str | None
    client_hostname: str | None
    starts: datetime | None
    ends: datetime | None
    served_by: Role | None = None
    primary_state: LeaseState | None = None
    secondary_state: LeaseState | None = None

    @property
    def disagree(self) -> bool:
        """Both peers answered and name different binding states."""
        p, s = self.primary_state, self.secondary_state
        return p is not None and s is not None and p != s


@dataclass(frozen=True)
class LeaseList(ScanReport[LeaseEntry]):
    """The leases, one row per address; with a limit, one page of them."""

    # with a limit: the last address of this page when more may follow, else None
    next_after: ipaddress.IPv4Address | None = None

    @property
    def leases(self) -> tuple[LeaseEntry, ...]:
        return self.rows


@dataclass(frozen=True)
class LeaseMatch:
    pair: str
    lease: LeaseEntry


@dataclass(frozen=True)
class LeaseSearch:
    """Where a MAC, IP or hostname has leases, across pairs."""

    query: str
    kind: str  # "ip", "mac" or "hostname"
    matches: tuple[LeaseMatch, ...]
    errors: dict[str, str] = field(default_factory=dict)  # pair -> why it was not searched
    truncated: bool = False  # more matched than the search's limit: only the first shown


# -- filters ------------------------------------------------------------------------------

def _subnet(subnet: str | ipaddress.IPv4Network | None) -> ipaddress.IPv4Network | None:
    if subnet is None or isinstance(subnet, ipaddress.IPv4Network):
        return subnet
    try:
        net = ipaddress.ip_network(str(subnet).strip(), strict=False)
    except ValueError:
        raise ValueError(f"subnet {subnet!r} is not a network such as 198.18.11.0/24") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"subnet {subnet!r} is IPv6; dhcpd's DHCPv4 leases are IPv4")
    return net


def _state(state: LeaseState | str | None) -> LeaseState | None:
    if state is None or isinstance(state, LeaseState):
        return state
    try:
        return LeaseState[str(state).strip().upper()]
    except KeyError:
        names = ", ".join(str(s) for s in LeaseState)
        raise ValueError(f"state {state!r} is not a binding state ({names})") from None


def _hostname(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    if not _HOSTNAME_RE.fullmatch(pattern):
        raise ValueError(f"hostname {pattern!r}: give a name or a pattern such as 'lab-*' "
                         "(no blanks, at most 253 characters)")
    return pattern.lower()


def _mac(mac: str | None) -> str | None:
    return hex_bytes(parse_mac(mac)) if mac is not None else None


def _keep(entry: LeaseEntry, state: LeaseState | None, hostname: str | None,
          mac: str | None = None) -> bool:
    if state is not None and entry.state is not state:
        return False
    if mac is not None and entry.hardware_address != mac:
        return False
    if hostname is not None:  # shell-style pattern, case-blind as DNS names are
        return entry.client_hostname is not None and fnmatch.fnmatchcase(
            entry.client_hostname.lower(), hostname)
    return True


# -- live ---------------------------------------------------------------------------------

def _lease_state(number: int | None) -> LeaseState | None:
    try:
        return LeaseState(number) if number is not None else None
    except ValueError:
        return None  # a number dhcpd 4.x does not define: shown as unknown


def _when(unix: int) -> datetime | None:
    return datetime.fromtimestamp(unix, tz=timezone.utc) if unix else None


def _merge(ip: ipaddress.IPv4Address, p: LeaseFields | None,
           s: LeaseFields | None) -> LeaseEntry | None:
    """One row from both peers' answers (module docstring); None if neither has a lease."""
    if p is None and s is None:
        return None
    ps, ss = _lease_state(p[0] if p else None), _lease_state(s[0] if s else None)
    state = LeaseState.ACTIVE if LeaseState.ACTIVE in (ps, ss) else (ps if p else ss)
    served_by = None
    if p and p[5] and (not s or not s[5] or p[5] >= s[5]):
        served_by = Role.PRIMARY
    elif s and s[5]:
        served_by = Role.SECONDARY
    main = (p if served_by is Role.PRIMARY else s) if served_by else (p or s)
    other = s if main is p else p
    assert main is not None
    hostname = main[2] or (other[2] if other else None)  # the serving peer alone has it
    return LeaseEntry(ip, state, hex_or_none(main[1]),
                      hostname.rstrip(b"\0").decode(errors="replace") if hostname else None,
                      _when(main[3]), _when(main[4]), served_by, ps, ss)


def _scan_both(pair: PairAccess, ips: list[ipaddress.IPv4Address], window: int | None,
               rate: float | None, progress: Progress | None,
               errors: dict[Role, str]) -> list[LeaseEntry]:
    views, failed = scan_both(pair, lease_fields, ips, window=window, rate=rate,
                              progress=progress)
    errors.update({r: str(e) for r, e in failed.items()})
    none: list[LeaseFields | None] = [None] * len(ips)
    prim, sec = views.get(Role.PRIMARY, none), views.get(Role.SECONDARY, none)
    return [e for ip, a, b in zip(ips, prim, sec, strict=True) if (e := _merge(ip, a, b))]


def list_leases(pair: PairAccess, *, subnet: str | ipaddress.IPv4Network | None = None,
                state: LeaseState | str | None = None, hostname: str | None = None,
                mac: str | None = None,
                after: ipaddress.IPv4Address | str | None = None, limit: int | None = None,
                window: int | None = None, rate: float | None = None,
                progress: Progress | None = None, conf: DhcpdConf | None = None) -> LeaseList:
    """The leases of the pair's pools, by address, live from both peers.

    ``subnet`` (``198.18.11.0/24``) narrows the addresses scanned; ``state`` (a
    :class:`LeaseState` or its name) and ``hostname`` (a name or shell pattern such as
    ``lab-*``, case-blind) and ``mac`` filter the rows. With ``limit``, a page: at most ``limit``
    rows of addresses after ``after``, scanning only as far as needed, and
    ``next_after`` says where the next page starts. ValueError for bad filters.
    """
    net, want, pattern = _subnet(subnet), _state(state), _hostname(hostname)
    hw = _mac(mac)
    start = parse_ip(str(after)) if after is not None else None
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if conf is None:
        conf = pair.dhcpd_conf()
        if conf is None:
            raise ConfigError(f"pair {pair.name!r} has no dhcpd_conf: the addresses to list "
                              "come from it (dhcpd has no OMAPI object for pools)")
    t = time.monotonic()
    lo = max(int(start) + 1 if start else 0, int(net.network_address) if net else 0)
    hi = int(net.broadcast_address) if net else 0xFFFFFFFF
    numbers = sorted({n for pool in pair_pools(conf, pair.config.failover_peer)
                      for r in pool.ranges
                      for n in range(max(int(r.first), lo), min(int(r.last), hi) + 1)})
    ips = [ipaddress.IPv4Address(n) for n in numbers]
    errors: dict[Role, str] = {}
    rows: list[LeaseEntry] = []
    next_after = None
    if limit is None:
        rows = [e for e in _scan_both(pair, ips, window, rate, progress, errors)
                if _keep(e, want, pattern, hw)]
    else:
        pos, chunk = 0, max(_FIRST_CHUNK, 2 * limit)
        while pos < len(ips) and len(rows) < limit:
            part = ips[pos:pos + chunk]
            rows += [e for e in _scan_both(pair, part, window, rate, None, errors)
                     if _keep(e, want, pattern, hw)]
            pos += len(part)
            chunk = min(2 * chunk, _MOST_CHUNK)
        if len(rows) > limit or (len(rows) == limit and pos < len(ips)):
            rows = rows[:limit]
            next_after = rows[-1].ip
    return LeaseList(pair.name, tuple(rows), datetime.now(timezone.utc), "omapi",
                     time.monotonic() - t, errors, next_after)


# -- offline ------------------------------------------------------------------------------

def leases_from_file(leases_file: str | os.PathLike[str], *,
                     subnet: str | ipaddress.IPv4Network | None = None,
                     state: LeaseState | str | None = None, hostname: str | None = None,
                     pair: str = "") -> LeaseList:
    """The leases of one server's dhcpd.leases (the last record of an address wins), by
    address, with the same filters as :func:`list_leases`. One server's file knows
    neither the partner's view nor who served: ``served_by`` and the per-peer states
    are None. DhcpdConfError (file:line) for a malformed file."""
    net, want, pattern = _subnet(subnet), _state(state), _hostname(hostname)
    t = time.monotonic()
    records = read_leases(leases_file)
    rows = [e for ip in sorted(records) if net is None or ip in net
            if _keep(e := LeaseEntry(ip, (r := records[ip]).state, r.hardware_address,
                                     r.client_hostname, r.starts, r.ends), want, pattern)]
    return LeaseList(pair, tuple(rows), datetime.now(timezone.utc), "leases-file",
                     time.monotonic() - t)


# -- search across pairs ------------------------------------------------------------------

def _entry(view: LeaseView) -> LeaseEntry:
    main = view.peer(view.serving) if view.serving else (view.primary or view.secondary)
    assert main is not None
    hostname = main.client_hostname or next(
        (le.client_hostname for le in (view.primary, view.secondary)
         if le and le.client_hostname), None)
    return LeaseEntry(view.ip, view.state, main.hardware_address, hostname, main.starts,
                      main.ends, view.serving, view.primary.state if view.primary else None,
                      view.secondary.state if view.secondary else None)


def _refuses_mac(pair: PairAccess, mac: str) -> bool:
    """A peer answers the lookup of ``mac`` with a refusal (not: cannot be asked)."""
    lookup = lease_lookup(mac=mac)
    for role in Role:
        try:
            read_lease(pair.peer(role), lookup)
        except Refused:
            return True
        except PeerError:
            continue
    return False


def _kind(query: str) -> str:
    text = query.strip()
    for kind, parse in (("ip", parse_ip), ("mac", parse_mac)):
        try:
            parse(text)
            return kind
        except ValueError:
            pass
    _hostname(text)  # a clear error for what is none of the three
    return "hostname"


def find_leases(pairs: Sequence[PairAccess], query: str, *, window: int | None = None,
                rate: float | None = None, limit: int = MAX_MATCHES) -> LeaseSearch:
    """Which pair, which peer and which state: ``query`` (an IP, a MAC or a client
    hostname or pattern) looked up on both peers of every pair in ``pairs``.

    An IP or a MAC is one lookup per peer (dhcpd opens a lease by ``ip-address`` or
    ``hardware-address``); dhcpd refuses the lookup of a MAC that holds several leases,
    and a hostname has no lookup at all, so for those each pair is scanned
    (:func:`list_leases`, with ``window`` and ``rate``). A pair that cannot be searched
    (no peer answers, no dhcpd_conf for a scan) is named in ``errors``; the others'
    matches stand. At most ``limit`` matches: a pair's scan stops once it has them,
    and ``truncated`` says that more matched.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    kind = _kind(query)
    text = query.strip()
    matches: list[LeaseMatch] = []
    errors: dict[str, str] = {}
    more: list[str] = []  # pairs whose scan stopped at the limit

    def scan(pair: PairAccess, *, hostname: str | None = None,
             mac: str | None = None) -> list[LeaseMatch]:
        found = list_leases(pair, hostname=hostname, mac=mac, window=window, rate=rate,
                            limit=limit)
        if found.errors:
            errors[pair.name] = "; ".join(f"{r}: {e}" for r, e in found.errors.items())
        if found.next_after is not None:
            more.append(pair.name)
        return [LeaseMatch(pair.name, e) for e in found.leases]

    def one(pair: PairAccess) -> list[LeaseMatch]:
        if kind == "hostname":
            return scan(pair, hostname=text)
        try:
            view = lease_view(pair, text) if kind == "ip" else lease_view(pair, mac=text)
        except (NotFound, ValueError):  # not known there, or outside its ranges
            return []
        except PeerError:
            if kind == "mac" and _refuses_mac(pair, text):
                # dhcpd refuses a lookup by a hardware address that several of its leases
                # share (measured: a MAC with leases in two subnets of the lab got "object
                # lookup failed" from both peers), the very case a search across subnets
                # is for: a scan finds every one
                return scan(pair, mac=text)
            raise
        if view.errors:
            errors[pair.name] = "; ".join(f"{r}: {e}" for r, e in view.errors.items())
        return [LeaseMatch(pair.name, _entry(view))]

    with ThreadPoolExecutor(max_workers=min(4, max(1, len(pairs)))) as ex:
        futures = [(p.name, ex.submit(one, p)) for p in pairs]
        for name, fut in futures:
            try:
                matches += fut.result()
            except (PeerError, ConfigError, OSError) as exc:
                errors[name] = str(exc)
    truncated = bool(more) or len(matches) > limit
    return LeaseSearch(text, kind, tuple(matches[:limit]), errors, truncated)
