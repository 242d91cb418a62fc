"""A dhcpd.leases reader: the binding state of every address, the last record winning.

dhcpd appends a new ``lease ADDRESS { ... }`` record on every change and rewrites the
file only now and then (dhcpd.leases(5)), so an address can appear many times: the last
record is the current one. The lexical structure is dhcpd.conf's, so the tokenizer of
:mod:`omapifo.dhcpdconf` reads it, with file:line in every error.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from .dhcpdconf import DhcpdConfError, Loc, parse_tree
from .leases import LeaseState


@dataclass(frozen=True)
class LeaseRecord:
    ip: ipaddress.IPv4Address
    state: LeaseState | None
    hardware_address: str | None
    loc: Loc


def read_leases(path: str | os.PathLike[str]) -> dict[ipaddress.IPv4Address, LeaseRecord]:
    """Every address's last record. DhcpdConfError (file:line) for a malformed file."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        raise DhcpdConfError(f"cannot read {p}: {exc.strerror}") from None
    out: dict[ipaddress.IPv4Address, LeaseRecord] = {}
    for node in parse_tree(text, str(p)):
        if node.head != "lease" or node.children is None:
            continue
        if len(node.words) != 2:
            raise DhcpdConfError(f"{node.loc}: expected lease ADDRESS {{")
        try:
            ip = ipaddress.IPv4Address(node.words[1].text)
        except ValueError:
            raise DhcpdConfError(f"{node.loc}: {node.words[1].text!r} is not an IPv4 "
                                 "address") from None
        state: LeaseState | None = None
        hw = None
        for child in node.children:
            w = [t.text.lower() for t in child.words]
            if w[:2] == ["binding", "state"] and len(w) == 3:
                try:
                    state = LeaseState[w[2].upper()]
                except KeyError:
                    raise DhcpdConfError(f"{child.loc}: unknown binding state {w[2]!r}") \
                        from None
            elif w[:2] == ["hardware", "ethernet"] and len(w) == 3:
                hw = w[2]
        out[ip] = LeaseRecord(ip, state, hw, node.loc)
    return out
