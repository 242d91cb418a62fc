"""A pair reached through the REST service: the pair contract over HTTP.

:class:`RemotePair` offers what :class:`~omapifo.FailoverPair` offers
(:class:`omapifo.Pair`), each method one request of
:class:`~omapifo.clients.client.Client`, whose answers load into the library's own
objects. So the command line's code is the same with ``--api URL`` as without.

The service records changes as the caller its token names: ``actor`` is not sent.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence

from omapifo import (ActionResult, DEFAULT_STOP_WAIT, EVERY_OPERATION, HostComparison, HostView,
                     LeaseList, LeaseState, LeaseView, MaintenanceReport, Observation, OnStep,
                     Operation, PairProbe, PairState, PoolReport, Progress, Role, follow_recovery)

from .client import ApiError, Client

# a fresh read that finds another under way is a 503 with Retry-After (the service never
# queues): how often, and after how long, `maintenance end --wait --api` asks again
FRESH_RETRIES, FRESH_RETRY_WAIT = 10, 1.0


class RemotePair:
    """The pair ``name`` as the service at ``client.base_url`` serves it."""

    supports: frozenset[Operation] = EVERY_OPERATION

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name

    def __repr__(self) -> str:
        return f"RemotePair({self.name!r}, {self.client.base_url!r})"

    def close(self) -> None:
        """The client's session is the backend's to close: several pairs share it."""

    def state(self) -> PairState:
        return self.client.pair(self.name, fresh=True)

    def partner_down(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                     dry_run: bool = False, actor: str | None = None) -> ActionResult:
        return self.client.partner_down(self.name, str(role), force=force, reason=reason,
                                        dry_run=dry_run)

    def shutdown(self, role: Role | str, *, force: bool = False, reason: str | None = None,
                 dry_run: bool = False, actor: str | None = None) -> ActionResult:
        return self.client.shutdown(self.name, str(role), force=force, reason=reason,
                                    dry_run=dry_run)

    def maintenance(self, role: Role | str, *, reason: str | None = None, dry_run: bool = False,
                    wait: float = DEFAULT_STOP_WAIT, actor: str | None = None,
                    on_step: OnStep | None = None) -> MaintenanceReport:
        """The service answers once it is over: no step is seen before (``on_step`` unused)."""
        return self.client.maintenance(self.name, str(role), reason=reason, dry_run=dry_run,
                                       wait=wait)

    def follow_recovery(self, *, timeout: float | None = None) -> Iterator[Observation]:
        """The library's own follower over the service's fresh reads of the pair."""
        def read() -> PairState:
            # on a busy service, wait and ask again, a few times
            for _ in range(FRESH_RETRIES):
                try:
                    return self.state()
                except ApiError as exc:
                    if exc.status != 503:
                        raise
                    time.sleep(FRESH_RETRY_WAIT)
            return self.state()
        return follow_recovery(read, timeout=timeout)

    def probe(self, roles: Sequence[Role | str] = tuple(Role), *,
              timeout: float = 3.0, secs: int | None = None,
              macs: Mapping[Role, str] | None = None) -> PairProbe:
        """The service probes from its own probe_giaddr (its host's relay address)."""
        return self.client.probe(self.name, [str(Role.parse(r)) for r in roles],
                                 timeout=timeout, secs=secs,
                                 macs={str(Role.parse(r)): m for r, m in (macs or {}).items()})

    def lease(self, ip: str | None = None, *, mac: str | None = None,
              client_id: str | None = None) -> LeaseView:
        return self.client.lease(self.name, ip, mac=mac, client_id=client_id)

    def release(self, ip: str, *, actor: str | None = None,
                dry_run: bool = False) -> LeaseView:
        return self.client.release(self.name, ip, dry_run=dry_run)

    def leases(self, subnet: str | None = None, state: LeaseState | str | None = None,
               hostname: str | None = None, *, progress: Progress | None = None) -> LeaseList:
        """The service scans (``progress`` unused: it answers with the whole page)."""
        return self.client.leases(self.name, subnet=subnet,
                                  state=None if state is None else str(state),
                                  hostname=hostname)

    def pools(self, *, progress: Progress | None = None) -> PoolReport:
        """The service's last scan (``progress`` unused)."""
        return self.client.pools(self.name)

    def hosts(self) -> HostComparison:
        return self.client.hosts(self.name)

    def host(self, name: str | None = None, *, mac: str | None = None,
             ip: str | None = None) -> HostView:
        return self.client.host(self.name, name, mac=mac, ip=ip)

    def add_host(self, name: str, *, ip: str, mac: str | None = None,
                 client_id: str | None = None, dry_run: bool = False,
                 actor: str | None = None) -> HostView:
        return self.client.add_host(self.name, name, ip=ip, mac=mac, client_id=client_id,
                                    dry_run=dry_run)

    def delete_host(self, name: str | None = None, *, mac: str | None = None,
                    dry_run: bool = False, actor: str | None = None) -> HostView:
        if (name is None) == (mac is None):  # as FailoverPair: before any request
            raise ValueError("give exactly one of a host name or mac=")
        if name is None:  # the service's route names the host; a MAC is looked up first
            name = self.client.host(self.name, mac=mac).name
        return self.client.delete_host(self.name, name, dry_run=dry_run)

    def sync_host(self, name: str, *, dry_run: bool = False,
                  actor: str | None = None) -> HostView:
        return self.client.sync_host(self.name, name, dry_run=dry_run)
