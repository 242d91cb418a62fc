"""Where the command line gets its answers: straight over OMAPI, or through the service.

Both backends return the library's own objects (PairState, ActionResult, LeaseView,
PoolReport): the direct one from :class:`~omapifo.FailoverPair`, the API one from the
REST :class:`~omapifo.clients.client.Client`, which loads them with the service's own
schemas. So ``omapifo status`` prints the same with ``-c FILE`` as with ``--api URL``,
and ``--json`` dumps either through the same schemas.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from omapifo import (ActionResult, Config, FailoverPair, HostComparison, HostView,
                     JsonLinesAudit, LeaseList, LeaseSearch, LeaseView, PairState, PoolReport,
                     find_leases, leases_from_file, load_config, open_pair, pools_from_files)
from omapifo.config import read_secret_file
from omapifo.errors import ConfigError
from omapifo.maintenance import (MaintenanceReport, MaintenanceStep, Observation,
                                 follow_recovery)

from .client import DEFAULT_TIMEOUT, ApiError, Client

# `maintenance end --wait --api`: how often, and after how long, a 503 is asked again
FRESH_RETRIES, FRESH_RETRY_WAIT = 10, 1.0

DEFAULT_AUDIT_LOG = Path("~/.local/state/omapifo/audit.log")
# the service to go through, and its token, when the command line names none (docs/cli.md)
API_URL_ENV, TOKEN_ENV, TOKEN_FILE_ENV = "OMAPIFO_API_URL", "OMAPIFO_TOKEN", "OMAPIFO_TOKEN_FILE"
VIA_API = f"--api URL (or ${API_URL_ENV})"
TOKEN_SOURCES = f"--token-file PATH, ${TOKEN_FILE_ENV} or ${TOKEN_ENV}"
Progress = Callable[[int, int], None]
OnStep = Callable[[MaintenanceStep], None]


class Backend(Protocol):
    """What the commands ask of either backend."""

    def close(self) -> None: ...
    def pair_names(self) -> list[str]: ...
    def state(self, pair: str) -> PairState: ...
    def states(self) -> list[PairState]: ...
    def partner_down(self, pair: str, peer: str, *, force: bool, reason: str | None,
                     dry_run: bool) -> ActionResult: ...
    def shutdown(self, pair: str, peer: str, *, force: bool, reason: str | None,
                 dry_run: bool) -> ActionResult: ...
    def lease(self, pair: str, ip: str | None, mac: str | None,
              client_id: str | None) -> LeaseView: ...
    def release(self, pair: str, ip: str, *, dry_run: bool) -> LeaseView: ...
    def history(self, pair: str, limit: int) -> dict[str, Any]: ...
    def pools(self, pair: str, leases: str | None, progress: Progress | None) -> PoolReport: ...
    # host reservations (omapifo.hosts); ``leases``: both peers' dhcpd.leases, direct only
    def hosts(self, pair: str) -> HostComparison: ...
    def host(self, pair: str, name: str | None, mac: str | None, ip: str | None) -> HostView: ...
    def add_host(self, pair: str, name: str, *, ip: str, mac: str | None,
                 client_id: str | None, dry_run: bool,
                 leases: tuple[Path, Path] | None) -> HostView: ...
    def delete_host(self, pair: str, name: str, *, dry_run: bool) -> HostView: ...
    def sync_host(self, pair: str, name: str, *, dry_run: bool,
                  leases: tuple[Path, Path] | None) -> HostView: ...
    # planned maintenance (omapifo.maintenance)
    def maintenance(self, pair: str, peer: str, *, reason: str | None, dry_run: bool,
                    wait: float, on_step: OnStep | None = None) -> MaintenanceReport: ...
    def phase(self, pair: str, peer: str) -> Observation: ...
    def recovery(self, pair: str, timeout: float | None) -> Iterator[Observation]: ...
    # lease lists and search (omapifo.leaselist)
    def leases(self, pair: str, leases: str | None, *, subnet: str | None, state: str | None,
               hostname: str | None, progress: Progress | None) -> LeaseList: ...
    def find_leases(self, query: str) -> LeaseSearch: ...


class DirectBackend:
    """The library over OMAPI, from the configuration file; changes are audited to a
    JSON-lines file (omapifo.audit.JsonLinesAudit)."""

    def __init__(self, config: Config, actor: str, audit_log: Path) -> None:
        self.config = config
        self.actor = actor
        self.audit = JsonLinesAudit(audit_log)
        self._pairs: dict[str, FailoverPair] = {}

    def close(self) -> None:
        for p in self._pairs.values():
            p.close()

    def _pair(self, name: str) -> FailoverPair:
        if name not in self._pairs:
            self._pairs[name] = open_pair(self.config, name, audit=self.audit)
        return self._pairs[name]

    def pair_names(self) -> list[str]:
        return sorted(self.config.pairs)

    def state(self, pair: str) -> PairState:
        return self._pair(pair).state()

    def states(self) -> list[PairState]:
        return [self.state(name) for name in self.pair_names()]

    def partner_down(self, pair: str, peer: str, *, force: bool, reason: str | None,
                     dry_run: bool) -> ActionResult:
        return self._pair(pair).partner_down(peer, force=force, reason=reason, dry_run=dry_run,
                                             actor=self.actor)

    def shutdown(self, pair: str, peer: str, *, force: bool, reason: str | None,
                 dry_run: bool) -> ActionResult:
        return self._pair(pair).shutdown(peer, force=force, reason=reason, dry_run=dry_run,
                                         actor=self.actor)

    def lease(self, pair: str, ip: str | None, mac: str | None,
              client_id: str | None) -> LeaseView:
        return self._pair(pair).lease(ip, mac=mac, client_id=client_id)

    def release(self, pair: str, ip: str, *, dry_run: bool) -> LeaseView:
        return self._pair(pair).release(ip, actor=self.actor, dry_run=dry_run)

    def pools(self, pair: str, leases: str | None, progress: Progress | None) -> PoolReport:
        fp = self._pair(pair)
        if leases is None:
            # the service's cap also binds the command line: an admin's scan at 3 a.m. takes
            # the same dhcpd CPU as the poller's (omapifo.scan, one budget per peer)
            return fp.pools(rate=self.config.service.pool_scan_rate, progress=progress)
        if fp.config.dhcpd_conf is None:
            raise ConfigError(f"pair {pair!r} has no dhcpd_conf in the configuration")
        return pools_from_files(fp.config.dhcpd_conf, leases, pair=pair,
                                failover_peer=fp.config.failover_peer)

    def hosts(self, pair: str) -> HostComparison:
        return self._pair(pair).hosts()

    def host(self, pair: str, name: str | None, mac: str | None, ip: str | None) -> HostView:
        return self._pair(pair).host(name, mac=mac, ip=ip)

    def add_host(self, pair: str, name: str, *, ip: str, mac: str | None,
                 client_id: str | None, dry_run: bool,
                 leases: tuple[Path, Path] | None) -> HostView:
        return self._pair(pair).add_host(name, ip=ip, mac=mac, client_id=client_id,
                                         dry_run=dry_run, actor=self.actor, leases=leases)

    def delete_host(self, pair: str, name: str, *, dry_run: bool) -> HostView:
        return self._pair(pair).delete_host(name, dry_run=dry_run, actor=self.actor)

    def sync_host(self, pair: str, name: str, *, dry_run: bool,
                  leases: tuple[Path, Path] | None) -> HostView:
        return self._pair(pair).sync_host(name, dry_run=dry_run, actor=self.actor,
                                          leases=leases)

    def maintenance(self, pair: str, peer: str, *, reason: str | None, dry_run: bool,
                    wait: float, on_step: OnStep | None = None) -> MaintenanceReport:
        return self._pair(pair).maintenance(peer, reason=reason, dry_run=dry_run, wait=wait,
                                            actor=self.actor, on_step=on_step)

    def phase(self, pair: str, peer: str) -> Observation:
        return Observation.of(self._pair(pair).state())

    def recovery(self, pair: str, timeout: float | None) -> Iterator[Observation]:
        return self._pair(pair).follow_recovery(timeout=timeout)

    def leases(self, pair: str, leases: str | None, *, subnet: str | None, state: str | None,
               hostname: str | None, progress: Progress | None) -> LeaseList:
        if leases is not None:
            self.config.pair_config(pair)  # an unknown pair says so first
            return leases_from_file(leases, subnet=subnet, state=state, hostname=hostname,
                                    pair=pair)
        return self._pair(pair).leases(subnet, state, hostname,
                                       rate=self.config.service.pool_scan_rate,
                                       progress=progress)

    def find_leases(self, query: str) -> LeaseSearch:
        return find_leases([self._pair(name) for name in self.pair_names()], query,
                           rate=self.config.service.pool_scan_rate)

    def history(self, pair: str, limit: int) -> dict[str, Any]:
        self.config.pair_config(pair)  # an unknown pair says so first
        raise ConfigError("the history is what `omapifo serve` records: ask the service with "
                          f"--api URL or ${API_URL_ENV} (token: {TOKEN_SOURCES})")


class ApiBackend:
    """The REST service, through :class:`~omapifo.clients.client.Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def close(self) -> None:
        self.client.session.close()

    def pair_names(self) -> list[str]:
        return [p.pair for p in self.client.pairs()]

    def state(self, pair: str) -> PairState:
        return self.client.pair(pair, fresh=True)

    def states(self) -> list[PairState]:
        """Every pair in one request, from the service's last poll (not read afresh: the
        service polls every few seconds, and N fresh reads would cost N round trips)."""
        return self.client.pairs()

    def partner_down(self, pair: str, peer: str, *, force: bool, reason: str | None,
                     dry_run: bool) -> ActionResult:
        return self.client.partner_down(pair, peer, force=force, reason=reason, dry_run=dry_run)

    def shutdown(self, pair: str, peer: str, *, force: bool, reason: str | None,
                 dry_run: bool) -> ActionResult:
        return self.client.shutdown(pair, peer, force=force, reason=reason, dry_run=dry_run)

    def lease(self, pair: str, ip: str | None, mac: str | None,
              client_id: str | None) -> LeaseView:
        return self.client.lease(pair, ip, mac=mac, client_id=client_id)

    def release(self, pair: str, ip: str, *, dry_run: bool) -> LeaseView:
        return self.client.release(pair, ip, dry_run=dry_run)

    def maintenance(self, pair: str, peer: str, *, reason: str | None, dry_run: bool,
                    wait: float, on_step: OnStep | None = None) -> MaintenanceReport:
        """The service answers once it is over: no step is seen before (``on_step`` unused)."""
        return self.client.maintenance(pair, peer, reason=reason, dry_run=dry_run, wait=wait)

    def phase(self, pair: str, peer: str) -> Observation:
        return self.client.maintenance_phase(pair, peer)

    def recovery(self, pair: str, timeout: float | None) -> Iterator[Observation]:
        """The library's own follower over the service's fresh reads of the pair."""
        def read() -> PairState:
            # a fresh read that finds another under way is a 503 with Retry-After (the
            # service never queues): on a busy service, wait and ask again, a few times
            for _ in range(FRESH_RETRIES):
                try:
                    return self.client.pair(pair, fresh=True)
                except ApiError as exc:
                    if exc.status != 503:
                        raise
                    time.sleep(FRESH_RETRY_WAIT)
            return self.client.pair(pair, fresh=True)
        return follow_recovery(read, timeout=timeout)

    def history(self, pair: str, limit: int) -> dict[str, Any]:
        return self.client.history(pair, limit=limit)  # type: ignore[no-any-return]

    def pools(self, pair: str, leases: str | None, progress: Progress | None) -> PoolReport:
        if leases is not None:
            raise ConfigError(f"--leases reads local files: it does not go with {VIA_API}")
        return self.client.pools(pair)

    def hosts(self, pair: str) -> HostComparison:
        return self.client.hosts(pair)

    def host(self, pair: str, name: str | None, mac: str | None, ip: str | None) -> HostView:
        return self.client.host(pair, name, mac=mac, ip=ip)

    def add_host(self, pair: str, name: str, *, ip: str, mac: str | None,
                 client_id: str | None, dry_run: bool,
                 leases: tuple[Path, Path] | None) -> HostView:
        if leases is not None:
            raise ConfigError("--files/--leases-dir read local files: they do not go with "
                              f"{VIA_API}")
        return self.client.add_host(pair, name, ip=ip, mac=mac, client_id=client_id,
                                    dry_run=dry_run)

    def delete_host(self, pair: str, name: str, *, dry_run: bool) -> HostView:
        return self.client.delete_host(pair, name, dry_run=dry_run)

    def sync_host(self, pair: str, name: str, *, dry_run: bool,
                  leases: tuple[Path, Path] | None) -> HostView:
        # the service checks the address against the files its configuration names
        return self.client.sync_host(pair, name, dry_run=dry_run)

    def leases(self, pair: str, leases: str | None, *, subnet: str | None, state: str | None,
               hostname: str | None, progress: Progress | None) -> LeaseList:
        if leases is not None:
            raise ConfigError(f"--leases reads local files: it does not go with {VIA_API}")
        return self.client.leases(pair, subnet=subnet, state=state, hostname=hostname)

    def find_leases(self, query: str) -> LeaseSearch:
        return self.client.find_leases(query)


def api_url(given: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The service to go through: ``--api URL``, else ``$OMAPIFO_API_URL``; None (straight
    over OMAPI) when neither is set or the one that counts is empty (``--api ''`` or
    ``OMAPIFO_API_URL=`` turn a default off for one command)."""
    env = os.environ if environ is None else environ
    return (given if given is not None else env.get(API_URL_ENV)) or None


def api_token(token_file: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The service's token: from ``--token-file``, else ``$OMAPIFO_TOKEN_FILE`` or
    ``$OMAPIFO_TOKEN`` (both set is refused: which one wins would be a guess). A file is
    read by the key files' rule (owner-only or group-readable, never others)."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        return read_secret_file(Path(token_file), "--token-file")
    named, token = env.get(TOKEN_FILE_ENV), env.get(TOKEN_ENV)
    if named and token:
        raise ConfigError(f"both ${TOKEN_ENV} and ${TOKEN_FILE_ENV} are set: unset one (the "
                          "file is the safer: a variable goes to every program started)")
    if named:
        return read_secret_file(Path(named), f"${TOKEN_FILE_ENV}")
    if token:
        return token
    raise ConfigError(f"{VIA_API} needs the service's token: {TOKEN_SOURCES}")


def open_backend(config_path: str | None, api: str | None, audit_log: str | None, *,
                 token_file: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Backend:
    """Through the service when :func:`api_url` names one, else straight over OMAPI with
    the configuration file (``config_path``, else :func:`omapifo.config.find_config`'s)."""
    url = api_url(api)
    if url:
        return ApiBackend(Client(url, api_token(token_file), timeout=timeout))
    if token_file is not None:
        raise ConfigError(f"--token-file is the token for {VIA_API}; OMAPI needs none")
    actor = f"cli:{os.environ.get('SUDO_USER') or os.environ.get('USER') or os.getuid()}"
    path = Path(audit_log or os.environ.get("OMAPIFO_AUDIT_LOG") or DEFAULT_AUDIT_LOG)
    return DirectBackend(load_config(config_path), actor, path)
