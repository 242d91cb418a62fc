"""What a failed read of a peer tells about that peer, from where omapifo stands.

"Cannot read the peer" is not "the peer is down": from one vantage point a partition,
a wrong key and a dead dhcpd look alike unless the error is read closely. Measured in
the lab (docs/runbook.md, "Evidence"): a stopped dhcpd on a running host refuses the
TCP connection at once; a cut link or a dead host gives "no route to host" or a
timeout; a running dhcpd with another key, another failover peer name or another
protocol on the port answers, but the read fails.
"""
from __future__ import annotations

import enum


class Evidence(enum.Enum):
    """What omapifo knows about a peer after trying to read its failover state."""

    #: its failover state was read
    READABLE = "readable"
    #: its host refused the connection (TCP reset): the host is up, dhcpd is not running
    DHCPD_STOPPED = "dhcpd-stopped"
    #: no route, host unreachable or no answer in time: a dead host and a cut link look alike
    SILENT = "silent"
    #: it answered but the read failed (key, failover peer name, protocol): dhcpd is running
    ANSWERS_BADLY = "answers-badly"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, error_kind: str | None) -> Evidence:
        """The evidence of a read that failed with the :mod:`omapifo.errors` class named
        ``error_kind`` (None: the read worked). A kind not listed counts as SILENT, the
        case that needs an operator's word (force) rather than the one that proceeds."""
        if error_kind is None:
            return cls.READABLE
        return _BY_KIND.get(error_kind, cls.SILENT)


_BY_KIND = {
    "ConnectionRefused": Evidence.DHCPD_STOPPED,
    "PeerTimeout": Evidence.SILENT,
    "PeerUnreachable": Evidence.SILENT,
    "AuthenticationFailed": Evidence.ANSWERS_BADLY,
    "ProtocolError": Evidence.ANSWERS_BADLY,
    "NotFound": Evidence.ANSWERS_BADLY,  # no failover peer of that name on that dhcpd
    "Refused": Evidence.ANSWERS_BADLY,
}
