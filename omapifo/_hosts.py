"""Host reservations (dhcpd's host objects) as both failover peers see them.

dhcpd's failover protocol replicates leases, not hosts: a host created over OMAPI on one
peer is unknown to the other (measured in the seed's lab: the client got the reserved
address with both servers up and a pool address once the primary was stopped). So a
reservation is made, read and removed on both peers, and its two views are compared.

Measured with dhcpd 4.4.3 (the lab):

- A host object is found by ``name``, by ``hardware-address`` + ``hardware-type``, or by
  ``dhcp-client-identifier``. By ``ip-address`` dhcpd looks up the *lease* of that
  address first (server/omapi.c, dhcp_host_lookup), so a host whose fixed address is
  outside every pool (where reservations belong) is "not found" by address. Address
  conflicts are therefore checked against dhcpd.conf's hosts and, when given, the
  hosts dhcpd wrote to its dhcpd.leases.
- dhcpd writes each host created over OMAPI to dhcpd.leases as ``host NAME { dynamic;
  hardware ethernet ..; fixed-address ..; }`` (``uid ..;`` for a client id) and a
  deletion as ``host NAME { dynamic; deleted; }``; the last record of a name wins.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ._dhcpdconf import DhcpdConfError, Loc, parse_tree
from ._bothpeers import BothPeers
from ._evidence import Evidence
from ._omapi import (Lookup, hex_bytes, new_host, parse_client_id, parse_host_name, parse_ip,
                    parse_mac)
from ._states import Role

@dataclass(frozen=True)
class Host:
    """One host reservation as one peer holds it (or as asked for)."""

    name: str
    ip: ipaddress.IPv4Address | None
    mac: str | None = None
    client_id: str | None = None

    @classmethod
    def make(cls, name: str, *, ip: str, mac: str | None = None,
             client_id: str | None = None) -> Host:
        """A reservation to create, each part checked (ValueError says which is wrong).
        dhcpd matches a client by MAC or client id, so one of them is needed."""
        if mac is None and client_id is None:
            raise ValueError("a host needs mac= or client_id= (how dhcpd recognises the client)")
        return cls(parse_host_name(name), parse_ip(ip),
                   hex_bytes(parse_mac(mac)) if mac is not None else None,
                   hex_bytes(parse_client_id(client_id)) if client_id is not None else None)

    def omapi_object(self) -> Lookup:
        """The host object that creates this reservation on a peer (OmapiPeer.create)."""
        return new_host(self.name, self.ip, self.mac, self.client_id)

    def omapi_attrs(self) -> list[tuple[str, bytes]]:
        """The attributes of a create, as pypureomapi's add_host sends them (plus name):
        ``peer.create("host", host.omapi_attrs())`` makes it behind omapifo's back."""
        return list(self.omapi_object().attrs)

    def __str__(self) -> str:
        who = ", ".join(x for x in (self.mac and f"MAC {self.mac}",
                                    self.client_id and f"client id {self.client_id}") if x)
        return f"host {self.name} ({who or 'no MAC'} -> {self.ip})"


@dataclass(frozen=True)
class HostView(BothPeers[Host]):
    """One reservation as both peers see it (``primary``/``secondary`` None: not there)."""

    MUST_AGREE: ClassVar[tuple[str, ...]] = ("name", "ip", "mac", "client_id")
    MISSING: ClassVar[str] = "does not have this host"

    key: str  # what was looked up: a name, a MAC or an address
    primary: Host | None
    secondary: Host | None
    errors: dict[Role, str] = field(default_factory=dict)
    evidence: dict[Role, Evidence] = field(default_factory=dict)

    @property
    def name(self) -> str:
        held = self.primary or self.secondary
        return held.name if held else self.key


# -- hosts in dhcpd.leases ---------------------------------------------------------------

# A host record as db.c's write_host writes it: "host NAME {" ... "}" in column 0.
_HOST_RECORD = re.compile(r'^host[ \t]+("(?:[^"\\\n]|\\.)*"|[^\s{};"#]+)[ \t]*\{.*?^\}',
                          re.M | re.S)


@dataclass(frozen=True)
class HostRecord:
    """The last record of one dynamic host in one dhcpd.leases."""

    host: Host
    loc: Loc


def _uid(text: str, quoted: bool) -> str:
    if not quoted:
        return hex_bytes(parse_client_id(text))
    # a printable uid is written as a quoted string, octal escapes for the rest
    raw = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)
    return hex_bytes(raw.encode("latin-1", errors="replace"))


def read_host_records(path: str | os.PathLike[str]) -> dict[str, HostRecord]:
    """The hosts a dhcpd.leases holds now: each name's last record, deleted ones dropped.
    DhcpdConfError (file:line) for a record that cannot be read."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        raise DhcpdConfError(f"cannot read {p}: {exc.strerror}") from None
    out: dict[str, HostRecord] = {}
    for m in _HOST_RECORD.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        for node in parse_tree(m.group(), str(p), line):
            if node.head != "host" or node.children is None or len(node.words) != 2:
                continue
            name = node.words[1].text
            ip, mac, uid, deleted = None, None, None, False
            for child in node.children:
                w = child.words
                try:
                    if child.head == "deleted":
                        deleted = True
                    elif child.head == "hardware" and len(w) == 3:
                        mac = hex_bytes(parse_mac(w[2].text))
                    elif child.head == "uid" and len(w) == 2:
                        uid = _uid(w[1].text, w[1].quoted)
                    elif child.head == "fixed-address" and len(w) == 2:
                        ip = parse_ip(w[1].text)
                except ValueError as exc:
                    raise DhcpdConfError(f"{child.loc}: {exc}") from None
            if deleted:
                out.pop(name, None)
            else:
                out[name] = HostRecord(Host(name, ip, mac, uid), node.loc)
    return out


@dataclass(frozen=True)
class HostComparison:
    """The dynamic hosts of both peers' dhcpd.leases, name by name (sorted)."""

    files: dict[Role, Path]
    views: list[HostView]

    @property
    def one_sided(self) -> list[HostView]:
        """Hosts only one peer holds: what ``host sync`` repairs."""
        return [v for v in self.views if (v.primary is None) != (v.secondary is None)]

    @property
    def differing(self) -> list[HostView]:
        return [v for v in self.views if v.primary and v.secondary and not v.agree]


def compare_host_files(primary: str | os.PathLike[str],
                       secondary: str | os.PathLike[str]) -> HostComparison:
    """Both peers' dhcpd.leases compared host by host."""
    files = {Role.PRIMARY: Path(primary), Role.SECONDARY: Path(secondary)}
    recs = {role: read_host_records(path) for role, path in files.items()}
    names = sorted(set(recs[Role.PRIMARY]) | set(recs[Role.SECONDARY]))
    views = []
    for name in names:
        p, s = recs[Role.PRIMARY].get(name), recs[Role.SECONDARY].get(name)
        views.append(HostView(name, p.host if p else None, s.host if s else None))
    return HostComparison(files, views)


def hosts_in_files(files: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None
                   ) -> dict[Role, list[Host]]:
    """The dynamic hosts of each peer's dhcpd.leases (empty without files)."""
    if files is None:
        return {Role.PRIMARY: [], Role.SECONDARY: []}
    return {role: [r.host for r in read_host_records(path).values()]
            for role, path in zip((Role.PRIMARY, Role.SECONDARY), files, strict=True)}
