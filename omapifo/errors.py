"""The errors omapifo raises. Every one carries the peer and the operation.

    OmapifoError                      anything omapifo raises on purpose
    ├── ConfigError                   a configuration file or value is wrong (file, pair, field)
    ├── PeerError                     something went wrong talking to one dhcpd
    │   ├── PeerUnreachable           no OMAPI connection (refused, no route, closed)
    │   │   └── PeerTimeout           the peer did not answer within the timeout
    │   ├── AuthenticationFailed      dhcpd refused our OMAPI key
    │   ├── NotFound                  dhcpd has no such object (lease, failover peer name)
    │   ├── Refused                   dhcpd answered an update with an error status
    │   └── ProtocolError             the answer is not OMAPI, or its signature is wrong
    ├── OperationRefused              omapifo's own guard said no (nothing was sent)
    │   ├── PartnerDownRefused
    │   └── ReleaseRefused
    ├── ConvergenceError              the change was made but the peers did not settle in time
    └── LabError                      the lab (omapifo.lab) could not be built or run

Bad arguments (not an IPv4 address, a malformed MAC) are plain ``ValueError`` raised
before any OMAPI traffic, as Python code expects.
"""
from __future__ import annotations


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


class ConfigError(OmapifoError):
    """A configuration file or value is wrong; the message names file, pair and field."""


class PeerError(OmapifoError):
    """Talking to one dhcpd over OMAPI failed."""


class PeerUnreachable(PeerError):
    """No OMAPI connection could be made or kept (refused, no route, closed)."""


class PeerTimeout(PeerUnreachable):
    """The peer did not answer within the configured timeout."""


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


class ConvergenceError(OmapifoError):
    """A change was made, but the two peers did not reach the expected state in time."""


class LabError(OmapifoError):
    """The test lab could not be built, started or taken down; the message says why."""
