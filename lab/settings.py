"""What a lab is built with, and the prefix that names it."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import LabError

DEFAULT_PREFIX = "omapifo"
DEFAULT_PEER_NAME = "classroom-1-6"
SECOND_PEER_NAME = "classroom-2"
_PREFIX_RE = re.compile(r"[a-z][a-z0-9-]{0,11}")  # + "-m" stays within IFNAMSIZ (15)


@dataclass(frozen=True)
class LabSettings:
    """What a lab is built with; the defaults follow the seed and the measured facts."""

    prefix: str = DEFAULT_PREFIX
    peer_name: str = DEFAULT_PEER_NAME
    large_pool: bool = False
    # a second `failover peer` between the same two servers (SECOND_PEER_NAME, on a second
    # address of each server, .252, ports 647/648: Layout.failover_addr says why), used by
    # client subnet 3's pool; the omapifo.toml gets a pair for each
    second_peer: bool = False
    # a probe subnet (Layout.probe_net) served by both servers, with the relay address
    # Layout.probe_giaddr on the root namespace's link: DHCP probes from the test process
    # (omapifo probe; docs/probes.md); the omapifo.toml names it as probe_giaddr
    probe_subnet: bool = False
    algorithm: str = "hmac-md5"
    mclt: int = 60  # the seed says 300 "for demonstration"; 60 keeps recover quick
    max_response_delay: int = 15
    max_unacked_updates: int = 10
    split: int = 128
    lease_time: int = 600

    @property
    def peer_names(self) -> tuple[str, ...]:
        """The lab's failover peers, the seed's first: each is a pair in omapifo.toml."""
        return (self.peer_name, SECOND_PEER_NAME) if self.second_peer else (self.peer_name,)


def check_prefix(prefix: str) -> None:
    """LabError unless ``prefix`` can name the lab's namespaces and links."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise LabError(f"prefix {prefix!r}: use 1-12 lowercase letters, digits or "
                       "'-', starting with a letter (it names namespaces and links)")
