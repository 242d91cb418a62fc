"""dhcpd's OMAPI objects as omapifo's models: the failover state, a lease, a host.

Why a module of its own: :mod:`omapifo._omapi` sits below the models (it knows bytes, not
FailoverStatus or Lease), and the models must not know OMAPI's attribute names. Decoding
an answer into a model needs both, so it happens here, between the two: the only place
above _omapi.py and _scan.py where an attribute is named (tests/test_layers.py checks it).
Everything above reads and writes one peer through these functions.
"""
from __future__ import annotations

import ipaddress
import struct
from datetime import datetime
from typing import Mapping

from ._errors import NotFound
from ._hosts import Host
from ._leases import Lease, LeaseState
from ._omapi import Lookup, OmapiPeer, failover_state_lookup, hex_or_none
from ._states import FailoverState, FailoverStatus, utc_from_unix


def decode_u32(attrs: Mapping[str, bytes], name: str) -> int | None:
    """A 4-byte big-endian integer attribute, or None when absent or not 4 bytes."""
    raw = attrs.get(name)
    if raw is None or len(raw) != 4:
        return None
    return int(struct.unpack("!I", raw)[0])


def _text(raw: bytes | None) -> str | None:
    return raw.rstrip(b"\0").decode(errors="replace") if raw else None


def failover_status(name: str, attrs: Mapping[str, bytes]) -> FailoverStatus:
    """The failover-state object of the failover peer ``name`` as one dhcpd answered it."""
    def num(attr: str) -> int | None:
        return decode_u32(attrs, attr)

    return FailoverStatus(
        name=attrs.get("name", name.encode()).decode(errors="replace").rstrip("\0") or name,
        local_state=FailoverState.decode(num("local-state") or 0),
        partner_state=FailoverState.decode(num("partner-state") or 0),
        since=utc_from_unix(num("local-stos") or 0),
        partner_since=utc_from_unix(num("partner-stos") or 0),
        mclt=num("mclt"),
        max_response_delay=num("max-response-delay"),
        max_outstanding_updates=num("max-outstanding-updates"),
        load_balance_max_secs=num("load-balance-max-secs"),
        hierarchy=num("hierarchy"),
        skew=num("skew"),
        cur_unacked_updates=num("cur-unacked-updates"),
        local_port=num("local-port"),
        partner_port=num("partner-port"),
    )


def lease(attrs: Mapping[str, bytes]) -> Lease:
    """A lease object as one dhcpd answered it; a state number dhcpd 4.x does not have
    is None."""
    def when(name: str) -> datetime | None:
        return utc_from_unix(decode_u32(attrs, name) or 0)

    state = decode_u32(attrs, "state")
    try:
        lease_state = LeaseState(state) if state is not None else None
    except ValueError:
        lease_state = None
    return Lease(
        ip=ipaddress.IPv4Address(attrs["ip-address"]),
        state=lease_state,
        hardware_address=hex_or_none(attrs.get("hardware-address")),
        client_id=hex_or_none(attrs.get("dhcp-client-identifier")),
        client_hostname=_text(attrs.get("client-hostname")),
        starts=when("starts"), ends=when("ends"), tstp=when("tstp"), tsfp=when("tsfp"),
        atsfp=when("atsfp"), cltt=when("cltt"),
    )


def host(attrs: Mapping[str, bytes]) -> Host:
    """A host object as one dhcpd answered it."""
    raw_ip = attrs.get("ip-address")
    return Host(attrs.get("name", b"").rstrip(b"\0").decode(errors="replace"),
                ipaddress.IPv4Address(raw_ip) if raw_ip and len(raw_ip) == 4 else None,
                hex_or_none(attrs.get("hardware-address")),
                hex_or_none(attrs.get("dhcp-client-identifier")))


# -- reading one peer ------------------------------------------------------------------------

def read_status(peer: OmapiPeer, failover_peer: str) -> FailoverStatus:
    """One peer's failover-state object; PeerError if it cannot be read."""
    lookup = failover_state_lookup(failover_peer)
    obj = peer.open(lookup.type, lookup.attrs, operation="read failover state")
    return failover_status(failover_peer, obj.attrs)


def read_lease(peer: OmapiPeer, lookup: Lookup) -> Lease | None:
    """The lease ``lookup`` finds on one peer; None if dhcpd has none (an answer, not a
    failure). PeerError otherwise."""
    try:
        return lease(peer.open(lookup.type, lookup.attrs, operation="look up lease").attrs)
    except NotFound:
        return None


def read_host(peer: OmapiPeer, lookup: Lookup) -> Host | None:
    """The host ``lookup`` finds on one peer; None if dhcpd has none. PeerError otherwise."""
    try:
        return host(peer.open(lookup.type, lookup.attrs, operation="look up host").attrs)
    except NotFound:
        return None
