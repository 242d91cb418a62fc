"""Leases as both failover peers see them, and their release.

dhcpd's lease object (dhcpd(8), THE LEASE OBJECT) is opened by ``ip-address``, by
``hardware-address`` + ``hardware-type``, or by ``dhcp-client-identifier``. Its
``state`` numbers are dhcpd 4.x's binding states (``includes/dhcpd.h``, FTS_*).
Measured on the lab: the serving peer alone has ``cltt`` and ``client-hostname``,
and ``tstp``/``tsfp``/``atsfp`` differ between the peers by design; state, hardware
address and ``ends`` agree.
"""
from __future__ import annotations

import enum
import ipaddress
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from .errors import ConvergenceError, NotFound, PeerError
from .evidence import Evidence
from .omapi import hex_or_none, mac_lookup
from .pairaccess import PairAccess
from .states import Role, decode_u32, utc_from_unix


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


# used with fullmatch: "$" would also match before a final newline ("aa:..:ff\n")
_MAC_RE = re.compile(r"[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}")
_HEX_RE = re.compile(r"[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2})*")


def parse_ip(text: str) -> ipaddress.IPv4Address:
    """An IPv4 address, or ValueError saying what is wrong (IPv6 included)."""
    try:
        addr = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 address") from None
    if addr.version != 4:
        raise ValueError(f"{text!r} is IPv6; dhcpd's DHCPv4 leases have IPv4 addresses")
    return addr


def parse_mac(text: str) -> bytes:
    """``aa:bb:cc:dd:ee:ff`` (or with '-') as 6 bytes, or ValueError."""
    if not _MAC_RE.fullmatch(str(text).strip()):
        raise ValueError(f"{text!r} is not a MAC address (expected aa:bb:cc:dd:ee:ff)")
    return bytes(int(h, 16) for h in re.split("[:-]", text.strip()))


def parse_client_id(text: str) -> bytes:
    """A DHCP client identifier as colon-separated hex (``01:aa:bb:..``), or ValueError."""
    if not _HEX_RE.fullmatch(str(text).strip()):
        raise ValueError(f"{text!r} is not a client identifier (expected hex bytes like "
                         "01:aa:bb:cc:dd:ee:ff)")
    return bytes(int(h, 16) for h in text.strip().split(":"))


def _text(raw: bytes | None) -> str | None:
    return raw.rstrip(b"\0").decode(errors="replace") if raw else None


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

    @classmethod
    def from_omapi(cls, attrs: Mapping[str, bytes]) -> Lease:
        def when(name: str) -> datetime | None:
            return utc_from_unix(decode_u32(attrs, name) or 0)

        state = decode_u32(attrs, "state")
        try:
            lease_state = LeaseState(state) if state is not None else None
        except ValueError:
            lease_state = None
        return cls(
            ip=ipaddress.IPv4Address(attrs["ip-address"]),
            state=lease_state,
            hardware_address=hex_or_none(attrs.get("hardware-address")),
            client_id=hex_or_none(attrs.get("dhcp-client-identifier")),
            client_hostname=_text(attrs.get("client-hostname")),
            starts=when("starts"), ends=when("ends"), tstp=when("tstp"), tsfp=when("tsfp"),
            atsfp=when("atsfp"), cltt=when("cltt"),
        )


# What failover peers must agree on; tstp/tsfp/atsfp/cltt/hostname legitimately differ.
_MUST_AGREE = ("state", "hardware_address", "ends")


@dataclass(frozen=True)
class LeaseView:
    """One lease as both peers see it."""

    ip: ipaddress.IPv4Address
    primary: Lease | None
    secondary: Lease | None
    errors: dict[Role, str] = field(default_factory=dict)
    # what each peer's read told (omapifo.evidence); empty when rebuilt from JSON
    evidence: dict[Role, Evidence] = field(default_factory=dict)

    def peer(self, role: Role | str) -> Lease | None:
        return self.primary if Role.parse(role) is Role.PRIMARY else self.secondary

    @property
    def state(self) -> LeaseState | None:
        """The binding state: the peers' common state; if they disagree, ``active`` when
        either holds an active binding (a client may be using it), else the primary's."""
        states = [lease.state for lease in (self.primary, self.secondary) if lease]
        if LeaseState.ACTIVE in states:
            return LeaseState.ACTIVE
        return states[0] if states else None

    @property
    def differences(self) -> tuple[str, ...]:
        p, s = self.primary, self.secondary
        if p is None or s is None:
            missing = "primary" if p is None else "secondary"
            return (f"the {missing} does not know this lease",) if (p or s) else ()
        return tuple(f"{name}: primary {getattr(p, name)}, secondary {getattr(s, name)}"
                     for name in _MUST_AGREE if getattr(p, name) != getattr(s, name))

    @property
    def agree(self) -> bool:
        return not self.differences and self.primary is not None and self.secondary is not None

    @property
    def serving(self) -> Role | None:
        """The peer that served the client: it alone records cltt (measured)."""
        p, s = self.primary, self.secondary
        if p and p.cltt and (not s or not s.cltt or p.cltt >= s.cltt):
            return Role.PRIMARY
        if s and s.cltt:
            return Role.SECONDARY
        return None


def _lookup(by_ip: str | None, mac: str | None, client_id: str | None) -> list[tuple[str, bytes]]:
    given = [x is not None for x in (by_ip, mac, client_id)]
    if sum(given) != 1:
        raise ValueError("give exactly one of an IP address, mac= or client_id=")
    if by_ip is not None:
        return [("ip-address", parse_ip(by_ip).packed)]
    if mac is not None:
        return mac_lookup(parse_mac(mac))
    return [("dhcp-client-identifier", parse_client_id(client_id))]  # type: ignore[arg-type]


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
    lookup = _lookup(ip, mac, client_id)
    if ip is not None:
        _check_in_a_range(pair, parse_ip(ip))
    errors: dict[Role, str] = {}
    evidence: dict[Role, Evidence] = {}

    def read(role: Role) -> Lease | None:
        evidence[role] = Evidence.READABLE
        try:
            return Lease.from_omapi(pair.peer(role).open("lease", lookup,
                                                         operation="look up lease").attrs)
        except NotFound:
            return None  # that peer has no such lease: an answer, not a failure
        except PeerError as exc:
            errors[role] = str(exc)
            evidence[role] = Evidence.of(exc)
            return None

    primary, secondary = pair.on_both(read)
    if primary is None and secondary is None:
        what = ip or mac or client_id
        if len(errors) == 2:
            raise PeerError(f"neither peer could be asked about {what}: "
                            + "; ".join(errors.values()), operation="look up lease")
        raise NotFound(f"no lease for {what} on either peer", operation="look up lease")
    address = (primary or secondary).ip  # type: ignore[union-attr]
    return LeaseView(address, primary, secondary, errors, evidence)


def wait_not_active(pair: PairAccess, ip: str, wait: float) -> LeaseView:
    """Both peers' view of ``ip`` once neither reports it active; ConvergenceError after
    ``wait`` seconds (each round reads both peers afresh)."""
    deadline = time.monotonic() + wait
    after = lease_view(pair, ip)
    while any(lease and lease.state is LeaseState.ACTIVE
              for lease in (after.primary, after.secondary)):
        if time.monotonic() > deadline:
            raise ConvergenceError(f"after {wait:g} s the peers say: primary "
                                   f"{after.primary and after.primary.state}, secondary "
                                   f"{after.secondary and after.secondary.state}",
                                   operation="release")
        time.sleep(0.1)
        after = lease_view(pair, ip)
    return after
