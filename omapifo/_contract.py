"""The pair contract: what any implementation of a DHCP failover pair offers.

Written once, in the spirit of napalm's driver base: the command line and the service
call these methods and nothing else, so one command's code runs whether it talks OMAPI
to both dhcpd (:class:`~omapifo.FailoverPair`) or goes through the REST
service (:class:`omapifo.clients.remote.RemotePair`). Another DHCP engine is a third
class with these methods, opened by :func:`omapifo.open_pair`: the REST views and the
commands stay as they are; the service's poller, which paces its scans through
FailoverPair's own options (``pools(rate=)``, ``leases(after=, limit=, rate=)``), does not.

An implementation that cannot do an operation says so in :attr:`Pair.supports`, and its
method raises :class:`~omapifo.Unsupported`; callers ask :func:`require` before
they ask a person to confirm anything.

``actor`` names who the audit trail records for a change; an implementation that records
the caller its credentials name (the REST service: the token's name) ignores it.
"""
from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from ._errors import Unsupported
from ._hosts import HostComparison, HostView
from ._leaselist import LeaseList
from ._leases import LeaseState, LeaseView
from ._maintenance import MaintenanceReport, Observation, OnStep
from ._pairstate import ActionResult, PairState
from ._pools import PoolReport
from ._probe import DEFAULT_TIMEOUT as PROBE_TIMEOUT, PairProbe
from ._scan import Progress
from ._states import Role



class Operation(str, enum.Enum):
    """One operation of the contract, as :attr:`Pair.supports` lists them."""

    STATE = "state"
    PARTNER_DOWN = "partner-down"
    SHUTDOWN = "shutdown"
    MAINTENANCE = "maintenance"
    RECOVERY = "recovery"
    LEASE = "lease"
    RELEASE = "release"
    LEASES = "leases"
    POOLS = "pools"
    HOSTS = "hosts"
    HOST = "host"
    ADD_HOST = "add host"
    DELETE_HOST = "delete host"
    SYNC_HOST = "sync host"
    PROBE = "probe"

    def __str__(self) -> str:
        return self.value


EVERY_OPERATION = frozenset(Operation)


class Pair(Protocol):
    """One failover pair: its state, its guarded changes, its leases, pools and hosts."""

    @property
    def name(self) -> str:
        """The pair's name in the configuration."""
        ...

    @property
    def supports(self) -> frozenset[Operation]:
        """The operations this implementation does; the others raise Unsupported."""
        ...

    def close(self) -> None:
        """Drop the connections; the object is not used again."""
        ...

    # -- state and the guarded changes --------------------------------------------------

    def state(self) -> PairState:
        """Both peers' state, read now, with the pair's health."""
        ...

    def partner_down(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                     dry_run: bool = False, actor: str | None = None) -> ActionResult:
        """Move ``role`` into partner-down when the evidence says it is safe."""
        ...

    def shutdown(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                 dry_run: bool = False, actor: str | None = None) -> ActionResult:
        """Stop ``role``'s server cleanly; its partner must read normal unless ``force``."""
        ...

    def maintenance(self, role: Role | str, *, reason: str | None = None, dry_run: bool = False,
                    wait: float = ..., actor: str | None = None,
                    on_step: OnStep | None = None) -> MaintenanceReport:
        """Shut ``role`` down and move its partner to partner-down, in one audited step;
        ``on_step`` sees each step as it ends where the implementation can tell."""
        ...

    def follow_recovery(self, *, timeout: float | None = None) -> Iterator[Observation]:
        """Both peers' states as they change, until both are normal."""
        ...

    # -- leases and pools ---------------------------------------------------------------

    def lease(self, ip: str | None = None, *, mac: str | None = None,
              client_id: str | None = None) -> LeaseView:
        """A lease as both peers see it."""
        ...

    def release(self, ip: str, *, actor: str | None = None,
                dry_run: bool = False) -> LeaseView:
        """Release an active lease on the peer that serves it."""
        ...

    def leases(self, subnet: str | None = None, state: LeaseState | str | None = None,
               hostname: str | None = None, *, progress: Progress | None = None) -> LeaseList:
        """The leases of the pair's pools, one row per address."""
        ...

    def pools(self, *, progress: Progress | None = None) -> PoolReport:
        """Every pool counted on both peers."""
        ...

    def probe(self, roles: Sequence[Role | str] = tuple(Role), *,
              timeout: float = PROBE_TIMEOUT, secs: int | None = None,
              macs: Mapping[Role, str] | None = None) -> PairProbe:
        """One round of DHCP probes: does each server of ``roles`` answer a client?
        ``secs`` None: either peer answers; 0: only the one the client hashes to."""
        ...

    # -- host reservations --------------------------------------------------------------

    def hosts(self) -> HostComparison:
        """Every host reservation of both peers, compared name by name."""
        ...

    def host(self, name: str | None = None, *, mac: str | None = None,
             ip: str | None = None) -> HostView:
        """A host reservation as both peers see it."""
        ...

    def add_host(self, name: str, *, ip: str, mac: str | None = None,
                 client_id: str | None = None, dry_run: bool = False,
                 actor: str | None = None) -> HostView:
        """Reserve ``ip`` for a client on both peers."""
        ...

    def delete_host(self, name: str | None = None, *, mac: str | None = None,
                    dry_run: bool = False, actor: str | None = None) -> HostView:
        """Remove a host from every peer that holds it."""
        ...

    def sync_host(self, name: str, *, dry_run: bool = False,
                  actor: str | None = None) -> HostView:
        """Create a host one peer holds on the other."""
        ...


def require(pair: Pair, operation: Operation) -> None:
    """Raise Unsupported unless ``pair`` does ``operation``: asked before a command asks
    anybody to confirm a change it cannot make."""
    if operation not in pair.supports:
        raise Unsupported(f"pair {pair.name!r} ({type(pair).__name__}) does not do "
                          f"{operation}; it does: "
                          + ", ".join(sorted(map(str, pair.supports))), operation=str(operation))
