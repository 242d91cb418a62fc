"""DHCP probes: does each server of a pair answer a client, not only OMAPI?

OMAPI tells what each dhcpd believes; a probe tells what a client would see. A server
that answers a DISCOVER is serving, whatever a firewall in front of its OMAPI port makes
it look like. So a probe's answer is evidence for the partner-down guard
(:func:`omapifo._guards.partner_down`): a partner that answered is never put down by its
peer, force or not. No answer is one more signal, never proof: a filter on port 67 and a
dead dhcpd look alike from one host.

Each server is probed on purpose, not the one the load balancing hashes the client to:
the DISCOVER's ``secs`` is above the pair's ``load balance max seconds`` (dhcpd.conf(5);
read from the failover state when a peer answers OMAPI, else dhcpd's default 3), so
either peer answers it (measured: docs/probes.md). Rounds are bounded: one DISCOVER per
server, a timeout, and at least :data:`MIN_GAP` seconds between two rounds from one relay
address in this process (another process on the host is kept out by port 67 itself:
omapifo._dhcp).
"""
from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NoReturn

from . import _dhcp
from ._config import Endpoint, PairConfig
from ._dhcpdconf import DhcpdConf
from ._errors import ConfigError, ProbeError
from ._pairaccess import PairAccess
from ._pairstate import PairState
from ._states import Role

#: Probes use hardware addresses from this locally administered prefix ("omp"), two
#: more bytes fixed per pair and server (:func:`probe_mac`): a probe reuses one lease
#: instead of using up the pool, and an admin can tell probes apart in dhcpd's log.
MAC_PREFIX = "02:6f:6d:70"
#: Seconds to wait for the OFFERs. dhcpd pings an address before offering it and waits
#: ping-timeout (1 s by default): every OFFER measured came after about 1.0 s.
DEFAULT_TIMEOUT = 3.0
#: Least seconds between two rounds from one relay address in this process.
MIN_GAP = 1.0

_gaps: dict[str, float] = {}  # giaddr -> monotonic time of its last round
_gaps_lock = threading.Lock()
_rounds: dict[str, threading.Lock] = {}  # one round at a time per giaddr


def probe_mac(pair: str, role: Role) -> str:
    """The hardware address probes of ``role`` in pair ``pair`` use (stable)."""
    digest = hashlib.sha256(f"{pair}\0{role}".encode()).digest()
    return f"{MAC_PREFIX}:{digest[0]:02x}:{digest[1]:02x}"


@dataclass(frozen=True)
class ProbeResult:
    """One server's answer to one DISCOVER (or its absence)."""

    role: Role
    server: str  # the address the DISCOVER went to
    mac: str
    xid: int
    at: datetime  # aware UTC, when the DISCOVER was sent
    answered: bool
    offered: str | None = None
    pool: str | None = None  # the dhcpd.conf pool the offered address is in, when known
    latency: float | None = None  # seconds
    server_id: str | None = None
    lease_time: int | None = None
    error: str | None = None  # the DISCOVER could not be sent

    def describe(self) -> str:
        """One line for people: what the server did with the probe."""
        when = self.at.strftime("%H:%M:%S UTC")
        if self.answered:
            pool = f" from pool {self.pool}" if self.pool else ""
            return (f"the {self.role} answered a DHCP probe at {when}: offered "
                    f"{self.offered}{pool} in {self._ms()}")
        if self.error:
            return f"no DHCP probe reached the {self.role} at {when} ({self.error})"
        return f"the {self.role} did not answer a DHCP probe sent at {when}"

    def _ms(self) -> str:
        ms = (self.latency or 0) * 1000
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


@dataclass(frozen=True)
class PairProbe:
    """One round of probes of a pair's servers."""

    pair: str
    giaddr: str
    secs: int
    timeout: float
    results: tuple[ProbeResult, ...] = field(default_factory=tuple)

    def result(self, role: Role | str) -> ProbeResult | None:
        role = Role.parse(role)
        return next((r for r in self.results if r.role is role), None)

    @property
    def serving(self) -> list[Role]:
        """The servers that answered."""
        return [r.role for r in self.results if r.answered]


def unsent(config: PairConfig, role: Role, error: str) -> ProbeResult:
    """The result of a probe of ``role`` that this host could not send (``error``)."""
    return ProbeResult(role, endpoint_of(config, role).host, probe_mac(config.name, role),
                       0, datetime.now(timezone.utc), False, error=error)


def endpoint_of(config: PairConfig, role: Role) -> Endpoint:
    return config.primary if role is Role.PRIMARY else config.secondary


def secs_for(state: PairState | None) -> int:
    """A ``secs`` above the pair's load balance max seconds, as the peers that answer
    OMAPI report it (the larger one), else above dhcpd's default."""
    views = (state.primary, state.secondary) if state else ()
    known = [v.status.load_balance_max_secs for v in views
             if v.status is not None and v.status.load_balance_max_secs is not None]
    return max(known, default=_dhcp.DEFAULT_LOAD_BALANCE_MAX_SECS) + 1


def readable_conf(read: Callable[[], DhcpdConf | None]) -> DhcpdConf | None:
    """dhcpd.conf to name the pool of an offered address, or None: a file that cannot be
    read or parsed names no pool, and the probe does not depend on it."""
    try:
        return read()
    except (OSError, ConfigError):  # DhcpdConfError is a ConfigError
        return None


def _pool_of(ip: str, conf: DhcpdConf | None) -> str | None:
    if conf is None:
        return None
    address = ipaddress.IPv4Address(ip)
    return next((p.name for p in conf.pools if any(address in r for r in p.ranges)), None)


def _wait_gap(giaddr: str) -> None:
    with _gaps_lock:
        last = _gaps.get(giaddr)
    if last is not None:
        time.sleep(max(0.0, last + MIN_GAP - time.monotonic()))


def raise_no_giaddr(config: PairConfig) -> NoReturn:
    raise ConfigError(f"pair {config.name} has no probe_giaddr: set this host's address in a "
                      "subnet both servers serve (docs/probes.md)", operation="probe")


def _checked_mac(mac: str) -> str:
    """``mac`` when it is a probe's (within MAC_PREFIX): a probe never speaks for a real
    client, whose lease an OFFER would touch."""
    _dhcp.mac_bytes(mac)  # ValueError for anything that is not a MAC
    if not mac.lower().startswith(MAC_PREFIX + ":"):
        raise ValueError(f"probe hardware address {mac}: it must be within {MAC_PREFIX}:xx:xx "
                         "(the probes' locally administered range, docs/probes.md)")
    return mac.lower()


def probe(config: PairConfig, roles: Iterable[Role | str] = tuple(Role), *,
          state: PairState | None = None, conf: DhcpdConf | None = None,
          timeout: float = DEFAULT_TIMEOUT, secs: int | None = None,
          macs: Mapping[Role, str] | None = None) -> PairProbe:
    """Probe each server of ``roles`` once, in one round, from ``config.probe_giaddr``.

    ``state`` (a fresh read of the pair) gives the load balance max seconds; ``secs``
    None is above it (either peer answers), 0 lets only the server whose share the client
    hashes to answer; ``macs`` replaces a server's hardware address (within MAC_PREFIX);
    ``conf`` names the pool of an offered address. ConfigError when the pair has no probe
    address; ProbeError when this host cannot send from it."""
    giaddr = config.probe_giaddr
    if giaddr is None:
        raise_no_giaddr(config)
    if not 0 < timeout <= 30:
        raise ValueError(f"probe timeout {timeout}: use more than 0 and at most 30 seconds")
    if secs is not None and not 0 <= secs <= 0xFFFF:
        raise ValueError(f"probe secs {secs}: the DHCP field holds 0 to 65535")
    wanted = list(dict.fromkeys(Role.parse(r) for r in roles))
    if not wanted:
        raise ValueError("a probe round needs at least one server")
    chosen = {Role.parse(r): _checked_mac(m) for r, m in (macs or {}).items()}
    secs = secs_for(state) if secs is None else secs
    sent = {role: _dhcp.Sent(endpoint_of(config, role).host, _dhcp.new_xid(),
                             chosen.get(role) or probe_mac(config.name, role))
            for role in wanted}
    with _gaps_lock:
        round_lock = _rounds.setdefault(giaddr, threading.Lock())
    with round_lock:
        _wait_gap(giaddr)
        at = datetime.now(timezone.utc)
        try:
            answers = _dhcp.exchange(giaddr, list(sent.values()), secs=secs, timeout=timeout)
        finally:
            with _gaps_lock:
                _gaps[giaddr] = time.monotonic()
    results = []
    for role, answer in zip(wanted, answers, strict=True):
        s, offer = answer.sent, answer.offer
        results.append(ProbeResult(
            role, s.server, s.mac, s.xid, at, offer is not None,
            offered=offer.yiaddr if offer else None,
            pool=_pool_of(offer.yiaddr, conf) if offer else None,
            latency=answer.latency, server_id=offer.server_id if offer else None,
            lease_time=offer.lease_time if offer else None, error=answer.error))
    return PairProbe(config.name, giaddr, secs, timeout, tuple(results))


def probe_partner(pair: PairAccess, role: Role, state: PairState) -> ProbeResult | None:
    """A probe of ``role``'s partner right before ``role`` is moved to partner-down (by
    partner-down or a maintenance), when the pair has a probe address: evidence for
    the guard. One this host could not send is a result without an answer that says why."""
    if pair.config.probe_giaddr is None:
        return None
    try:
        found = probe(pair.config, [role.other], state=state,
                      conf=readable_conf(pair.dhcpd_conf))
    except ProbeError as exc:
        return unsent(pair.config, role.other, str(exc))
    return found.result(role.other)
