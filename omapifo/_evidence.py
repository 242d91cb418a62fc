"""What a failed read of a peer tells about that peer, from where omapifo stands.

"Cannot read the peer" is not "the peer is down": from one vantage point a partition,
a wrong key, a firewall and a dead dhcpd look alike unless the error is read closely.
Measured in the lab (docs/runbook.md, "Evidence"): a stopped dhcpd on a running host
answers the TCP connection with a reset at once; a cut link or a dead host gives "no
route to host" or a timeout; a firewall that rejects answers with an ICMP error (Linux
reports ICMP port-unreachable with the same ECONNREFUSED as a reset: omapifo._omapi reads
the ICMP error itself and raises ConnectionRejected); a running dhcpd with another key,
another failover peer name or another protocol on the port answers, but the read fails.

The evidence is keyed by the error's type, not its name: see :meth:`Evidence.of`.
"""
from __future__ import annotations

import enum

from . import _errors as _e


class Evidence(enum.Enum):
    """What omapifo knows about a peer after trying to read its failover state."""

    #: its failover state was read
    READABLE = "readable"
    #: its host answered the connection with a TCP reset, no ICMP error: the host is up,
    #: dhcpd is not running (a firewall's ``reject with tcp reset`` looks the same)
    DHCPD_STOPPED = "dhcpd-stopped"
    #: an ICMP error answered (port-unreachable, admin-prohibited, ...): a filter on its
    #: host or on the way rejected the connection; its dhcpd may be running and serving
    FILTERED = "filtered"
    #: no route, host unreachable or no answer in time: a dead host and a cut link look alike
    SILENT = "silent"
    #: it answered but the read failed (key, failover peer name, protocol): dhcpd is running
    ANSWERS_BADLY = "answers-badly"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, error: BaseException | type[BaseException] | str | None) -> Evidence:
        """The evidence of a read that failed with ``error`` (None: the read worked).

        ``error`` is the exception, its class, or the name of an :mod:`omapifo._errors`
        class (a PeerView's ``error_kind`` as JSON carries it; a name that module does
        not define counts as SILENT). The class decides, through :data:`BY_TYPE`: its own
        entry, else its nearest listed base class, except that only ConnectionRefused
        itself is DHCPD_STOPPED. A subclass of it is a new claim about what was seen and
        is SILENT until it gets its own entry (tests/test_evidence.py checks that every
        PeerError of omapifo._errors has one): an unknown error is never "stopped".
        """
        if error is None:
            return cls.READABLE
        if isinstance(error, str):
            kind: type[BaseException] | None = _e.by_name(error)
        elif isinstance(error, type):
            kind = error
        else:
            kind = type(error)
        if kind is None:
            return cls.SILENT
        if kind in BY_TYPE:
            return BY_TYPE[kind]
        for base in kind.__mro__[1:]:
            if base in BY_TYPE:
                found = BY_TYPE[base]
                # Inheriting ANSWERS_BADLY is stricter than SILENT (force does not override
                # it); inheriting DHCPD_STOPPED would let an unforced partner-down through
                return cls.SILENT if found is cls.DHCPD_STOPPED else found
        return cls.SILENT  # not a PeerError at all


#: Every PeerError of omapifo._errors and what it tells about the peer.
BY_TYPE: dict[type[BaseException], Evidence] = {
    _e.ConnectionRefused: Evidence.DHCPD_STOPPED,
    _e.ConnectionRejected: Evidence.FILTERED,
    _e.PeerTimeout: Evidence.SILENT,
    _e.PeerUnreachable: Evidence.SILENT,
    _e.AuthenticationFailed: Evidence.ANSWERS_BADLY,
    _e.ProtocolError: Evidence.ANSWERS_BADLY,
    _e.NotFound: Evidence.ANSWERS_BADLY,  # no failover peer of that name on that dhcpd
    _e.Refused: Evidence.ANSWERS_BADLY,
    _e.PeerError: Evidence.SILENT,  # talking to it failed, nothing more is known
}
