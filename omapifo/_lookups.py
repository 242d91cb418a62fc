"""A lease or a host looked up on both peers of a pair, the two read concurrently.

One lookup per peer (:mod:`omapifo._omapi` builds it, :mod:`omapifo._wire` reads it); a
peer that has no such object answered, a peer that cannot be asked is an error of that
peer in the view (with what its failure tells: :mod:`omapifo._evidence`), and only when
neither peer can be asked is it an exception.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TypeVar

from ._errors import NotFound, PeerError
from ._evidence import Evidence
from ._hosts import Host, HostView
from ._leases import Lease, LeaseView
from ._omapi import OmapiPeer, host_lookup, lease_lookup, parse_ip
from ._pairaccess import PairAccess
from ._states import Role
from ._wire import read_host, read_lease

T = TypeVar("T")


def _both(pair: PairAccess, read: Callable[[OmapiPeer], T | None]
          ) -> tuple[T | None, T | None, dict[Role, str], dict[Role, Evidence]]:
    """``read`` on both peers at once: what each found, and each failure by peer."""
    errors: dict[Role, str] = {}
    evidence: dict[Role, Evidence] = {}

    def one(role: Role) -> T | None:
        evidence[role] = Evidence.READABLE
        try:
            return read(pair.peer(role))
        except PeerError as exc:
            errors[role] = str(exc)
            evidence[role] = Evidence.of(exc)
            return None

    primary, secondary = pair.on_both(one)
    return primary, secondary, errors, evidence


def _neither(errors: dict[Role, str], what: str, operation: str) -> PeerError:
    return PeerError(f"neither peer could be asked about {what}: " + "; ".join(errors.values()),
                     operation=operation)


def _check_in_a_range(pair: PairAccess, addr: ipaddress.IPv4Address) -> None:
    """With a dhcpd_conf configured, an address no range or host covers is a ValueError
    before any OMAPI traffic: dhcpd would only answer "not found"."""
    try:
        conf = pair.dhcpd_conf()
    except OSError:
        return  # an unreadable file is the configuration check's business, not a lookup's
    if conf is None:
        return
    if any(addr in r for r in conf.ranges) or any(
            str(addr) in h.fixed_addresses for h in conf.hosts):
        return
    raise ValueError(f"{addr} is outside every range of {conf.path}; dhcpd has no lease for it")


def lease_view(pair: PairAccess, ip: str | None = None, *, mac: str | None = None,
               client_id: str | None = None) -> LeaseView:
    """Look a lease up on both peers. NotFound if neither knows it; ValueError for bad input.

    A lookup by MAC or client id finds the lease on each peer separately; the view's
    address is the one they found (the primary's if they differ, which ``differences``
    then shows).
    """
    lookup = lease_lookup(ip, mac=mac, client_id=client_id)
    if ip is not None:
        _check_in_a_range(pair, parse_ip(ip))
    primary, secondary, errors, evidence = _both(pair, lambda peer: read_lease(peer, lookup))
    found: Lease | None = primary or secondary
    if found is None:
        what = ip or mac or client_id
        if len(errors) == 2:
            raise _neither(errors, str(what), "look up lease")
        raise NotFound(f"no lease for {what} on either peer", operation="look up lease")
    return LeaseView(found.ip, primary, secondary, errors, evidence)


def host_view(pair: PairAccess, name: str | None = None, *, mac: str | None = None,
              ip: str | None = None) -> HostView:
    """A host as both peers see it. NotFound if neither has it, PeerError if neither can
    be asked; ValueError for bad input (before any OMAPI traffic)."""
    lookup = host_lookup(name, mac=mac, ip=ip)
    key = str(name or mac or ip)
    primary, secondary, errors, evidence = _both(pair, lambda peer: read_host(peer, lookup))
    found: Host | None = primary or secondary
    if found is None:
        if len(errors) == 2:
            raise _neither(errors, f"host {key}", "look up host")
        if not errors:
            extra = (" (dhcpd finds a host by address only through a lease of that address; "
                     "look it up by name or MAC)") if ip is not None else ""
            raise NotFound(f"no host {key} on either peer{extra}", operation="look up host")
    return HostView(key, primary, secondary, errors, evidence)
