"""What a lab dhcpd sees of OMAPI, counted by its own kernel (never by omapifo): an
nftables counter in the server's namespace on TCP port 7911, and the dhcpd's CPU time.

The counter counts the bytes of packets to dhcpd's OMAPI port that carry the timestamp
option (TCP data offset 8: every segment after the handshake on Linux); their payload is
bytes - 52 x packets (20 bytes of IPv4 header, 32 of TCP). A scan's lookup is one
``open`` message of a fixed size, so payload / that size is an upper bound on the
lookups the dhcpd was sent (state reads and the authentication add a few messages).
``tests/test_budget.py`` checks the conversion on a scan of a known number of addresses.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass

from omapifo import Role
from omapifo.lab import Lab
from omapifo._scan import encode_open

OMAPI_PORT = 7911
TABLE = "omapifo_count"
HEADERS = 52  # IPv4 20 + TCP 20 + timestamps option 12


def lookup_size(signature: int = 16) -> int:
    """Bytes of one scan lookup (open a lease by ip-address), signed with an HMAC of
    ``signature`` bytes (16: HMAC-MD5, the lab's default)."""
    return len(encode_open(0, [(b"ip-address", bytes(4))], 1, signature,
                           lambda _: bytes(signature)))


@dataclass(frozen=True)
class Reading:
    at: float  # time.monotonic()
    packets: int
    bytes: int
    cpu: float  # seconds of CPU the dhcpd used so far

    @property
    def payload(self) -> int:
        return self.bytes - HEADERS * self.packets


def _nft(ns: str, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", *args], input=stdin,
                          capture_output=True, text=True, check=True, timeout=10).stdout


class OmapiCounter:
    """A counter of OMAPI traffic into one lab server; a context manager that removes
    its table again (pass or fail)."""

    def __init__(self, lab: Lab, role: Role) -> None:
        self.lab = lab
        self.role = role
        self.ns = lab.ns("pri" if role is Role.PRIMARY else "sec")
        self.pid = lab.status()["processes"][f"dhcpd-{role}"]["pid"]

    def __enter__(self) -> OmapiCounter:
        _nft(self.ns, "-f", "-", stdin=(
            f"table inet {TABLE} {{\n chain input {{\n  type filter hook input priority 0;"
            f" policy accept;\n  tcp dport {OMAPI_PORT} tcp doff 8 counter\n }}\n}}\n"))
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet",
                        TABLE], capture_output=True, timeout=10, check=False)

    def read(self) -> Reading:
        out = json.loads(_nft(self.ns, "-j", "list", "table", "inet", TABLE))
        counter = next(e["rule"]["expr"][-1]["counter"] for e in out["nftables"]
                       if "rule" in e)
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return Reading(time.monotonic(), counter["packets"], counter["bytes"], cpu)


def lookups_per_second(a: Reading, b: Reading, size: int) -> float:
    """Lookups (upper bound) per second the dhcpd was sent between two readings."""
    return (b.payload - a.payload) / size / (b.at - a.at)
