"""The errors omapifo raises. Every one carries the peer and the operation.

    OmapifoError                      anything omapifo raises on purpose
    ├── ConfigError                   a configuration file or value is wrong (file, pair, field)
    │   ├── UnknownPair               no pair of that name is configured
    │   └── Unsupported               the pair's implementation does not do this operation
    ├── PeerError                     something went wrong talking to one dhcpd
    │   ├── PeerUnreachable           no OMAPI connection (no route, closed, ...)
    │   │   ├── PeerTimeout           the peer did not answer within the timeout
    │   │   ├── ConnectionRefused     a TCP reset from its host: dhcpd is not running
    │   │   └── ConnectionRejected    an ICMP error (a filter) answered: says nothing of dhcpd
    │   ├── AuthenticationFailed      dhcpd refused our OMAPI key
    │   ├── NotFound                  dhcpd has no such object (lease, failover peer name)
    │   ├── Refused                   dhcpd answered an update with an error status
    │   └── ProtocolError             the answer is not OMAPI, or its signature is wrong
    ├── OperationRefused              omapifo's own guard said no (nothing was sent)
    │   ├── PartnerDownRefused
    │   ├── ReleaseRefused
    │   ├── HostRefused           a host reservation that would conflict (pool, subnet, taken)
    │   └── ActionBusy                another change of this pair holds its lock
    ├── AuditUnavailable              the audit record could not be written: nothing was sent
    ├── ProbeError                    a DHCP probe could not be sent from this host (port 67)
    ├── ConvergenceError              the change was made but the peers did not settle in time
    └── PartialChange                 a change reached one peer only and could not be undone

Bad arguments (not an IPv4 address, a malformed MAC) are plain ``ValueError`` raised
before any OMAPI traffic, as Python code expects.

Each class has a stable problem type, ``urn:omapifo:problem:`` and its name in kebab
case (``PartnerDownRefused`` -> ``urn:omapifo:problem:partner-down-refused``): the REST
service answers with it and the REST client raises the same class again
(:func:`from_problem_type`), so an error survives HTTP. docs/rest.md lists them.
"""
from __future__ import annotations

import re
import sys

PROBLEM_TYPE_PREFIX = "urn:omapifo:problem:"


class OmapifoError(Exception):
    """Base of every error omapifo raises on purpose.

    ``peer`` names the server ("primary", "secondary" or host:port) and ``operation``
    what was being done ("read failover state", "partner-down", ...), either may be None.
    """

    def __init__(self, message: str, *, peer: str | None = None, operation: str | None = None):
        self.message = message
        self.peer = peer
        self.operation = operation
        super().__init__(message)

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.peer, self.operation) if p)
        return f"{where}: {self.message}" if where else self.message

    @classmethod
    def problem_type(cls) -> str:
        """This class's stable RFC 9457 problem type URI."""
        return PROBLEM_TYPE_PREFIX + re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()


class ConfigError(OmapifoError):
    """A configuration file or value is wrong; the message names file, pair and field."""


class UnknownPair(ConfigError):
    """No pair of that name is configured (the message lists the ones that are); the
    REST service answers it with 404, and its client raises it again."""


class Unsupported(ConfigError):
    """The pair, as configured (its engine, or the way it is reached), does not do this
    operation (omapifo._contract: Pair.supports); nothing was sent."""


class PeerError(OmapifoError):
    """Talking to one dhcpd over OMAPI failed."""


class PeerUnreachable(PeerError):
    """No OMAPI connection could be made or kept (refused, no route, closed)."""


class PeerTimeout(PeerUnreachable):
    """The peer did not answer within the configured timeout."""


class ConnectionRefused(PeerUnreachable):
    """The peer's host answered the connection with a TCP reset and no ICMP error: the
    host is up and nothing listens on the OMAPI port, which is what a stopped dhcpd looks
    like (a firewall rule ``reject with tcp reset`` looks the same: docs/runbook.md)."""


class ConnectionRejected(PeerUnreachable):
    """An ICMP error answered the connection (port-unreachable, admin-prohibited,
    host-prohibited...): a filter at ``offender`` (the peer's host or a router on the way)
    rejected it. It says nothing about dhcpd, which may be running and serving.

    ``offender`` is the address the ICMP error came from, ``icmp_type``/``icmp_code`` what
    it said (RFC 792; 3/3 port unreachable, 3/13 communication administratively
    prohibited). All three are None when the error was re-created from its problem type."""

    def __init__(self, message: str, *, peer: str | None = None, operation: str | None = None,
                 offender: str | None = None, icmp_type: int | None = None,
                 icmp_code: int | None = None):
        super().__init__(message, peer=peer, operation=operation)
        self.offender = offender
        self.icmp_type = icmp_type
        self.icmp_code = icmp_code


class AuthenticationFailed(PeerError):
    """dhcpd did not accept the OMAPI key (wrong secret, name or algorithm)."""


class NotFound(PeerError):
    """dhcpd has no object matching the lookup."""


class Refused(PeerError):
    """dhcpd answered a request with an error status."""


class ProtocolError(PeerError):
    """The answer was not valid OMAPI or its signature did not verify."""


class OperationRefused(OmapifoError):
    """omapifo's own safety guard refused an operation; nothing was changed."""


class PartnerDownRefused(OperationRefused):
    """partner_down() refused: moving this peer to partner-down is not safe now."""


class ReleaseRefused(OperationRefused):
    """release() refused: the lease is not active."""


class ActionBusy(OperationRefused):
    """Another change of the same pair (this process, the service or the command line on
    this host) held the pair's lock for longer than we wait; nothing was sent."""


class AuditUnavailable(OmapifoError):
    """The audit record of an attempt could not be written, so nothing was sent (or an
    audit log could not be read back)."""


class ProbeError(OmapifoError):
    """A DHCP probe could not be sent from this host: its relay address is not this
    host's, port 67 needs a privilege the process lacks, or another program holds it.
    It says nothing about the servers (omapifo._probe)."""


class ConvergenceError(OmapifoError):
    """A change was made, but the two peers did not reach the expected state in time."""


class HostRefused(OperationRefused):
    """A host reservation was refused: its address is in a dynamic range or outside every
    subnet, or the address, MAC or client id is already another host's on a peer."""


class PartialChange(OmapifoError):
    """A change of both peers reached one of them only, and undoing it there failed too:
    the two peers now differ (``peer`` names the one that holds the change)."""


# The errors of a change that mean dhcpd did not take it: it said no, or no connection was
# ever made. Any other failure after sending (timeout, connection lost) leaves the outcome
# unknown until a read tells (FailoverPair's audited attempts record it so).
NOT_TAKEN: tuple[type[PeerError], ...] = (Refused, NotFound, AuthenticationFailed,
                                          ConnectionRefused, ConnectionRejected)


def by_name(name: str | None) -> type[OmapifoError] | None:
    """The error class of this module named ``name`` (a PeerView's ``error_kind`` as the
    REST service sends it), if any."""
    value = vars(sys.modules[__name__]).get(name or "")
    if isinstance(value, type) and issubclass(value, OmapifoError):
        return value
    return None


def from_problem_type(uri: str | None) -> type[OmapifoError] | None:
    """The error class whose :meth:`~OmapifoError.problem_type` is ``uri``, if any."""
    for value in vars(sys.modules[__name__]).values():
        if isinstance(value, type) and issubclass(value, OmapifoError) and \
                value.problem_type() == uri:
            return value
    return None
