"""Where the command line finds its pairs: straight over OMAPI, or through the service.

Every command asks its backend for a pair (:meth:`Backend.pair`) and calls the pair
contract (:class:`omapifo.Pair`) on it, whichever backend it is: the direct one
opens what :func:`omapifo.open_pair` opens for the pair (today always
:class:`~omapifo.FailoverPair`), the API one :class:`~omapifo.clients.remote.RemotePair`,
whose answers the service's own schemas load into the library's objects. So ``omapifo
status`` runs the same code and prints the same with ``-c FILE`` as with ``--api URL``,
and ``--json`` dumps either through the same schemas. What spans pairs (all states, a
search, the service's history) and what reads local files is the backend's.
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Protocol

from omapifo import (Config, ConfigError, FailoverPair, JsonLinesAudit, LeaseList, LeaseSearch,
                     Pair, PairProbe, PairState, PoolReport, find_leases, leases_from_file,
                     load_config, open_pair, pools_from_files, read_secret_file)

from .client import DEFAULT_TIMEOUT, Client
from .remote import RemotePair

DEFAULT_AUDIT_LOG = Path("~/.local/state/omapifo/audit.log")
# the service to go through, and its token, when the command line names none (docs/cli.md)
API_URL_ENV, TOKEN_ENV, TOKEN_FILE_ENV = "OMAPIFO_API_URL", "OMAPIFO_TOKEN", "OMAPIFO_TOKEN_FILE"
VIA_API = f"--api URL (or ${API_URL_ENV})"
TOKEN_SOURCES = f"--token-file PATH, ${TOKEN_FILE_ENV} or ${TOKEN_ENV}"
Files = tuple[Path, Path]


class Backend(Protocol):
    """What the commands ask of either backend, besides the pairs' own operations."""

    def close(self) -> None: ...
    def pair(self, name: str, *, leases: Files | None = None) -> Pair:
        """The pair ``name``; ``leases``: both peers' dhcpd.leases instead of the
        configuration's (direct only: the service reads the files it is configured with)."""
        ...
    def pair_names(self) -> list[str]: ...
    def states(self) -> list[PairState]: ...
    def find_leases(self, query: str) -> LeaseSearch: ...
    def history(self, pair: str, limit: int) -> dict[str, Any]: ...
    # a DHCP probe round for monitoring: sent now (direct), or the service's last one
    def monitoring_probe(self, pair: str) -> PairProbe: ...
    # a copy of a dhcpd.leases read here, with the pair's dhcpd.conf (direct only)
    def pools_from_file(self, pair: str, leases: str) -> PoolReport: ...
    def leases_from_file(self, pair: str, leases: str, *, subnet: str | None,
                         state: str | None, hostname: str | None) -> LeaseList: ...


class DirectBackend:
    """The library over OMAPI, from the configuration file; changes are audited to a
    JSON-lines file (omapifo.JsonLinesAudit) and recorded as ``actor``'s."""

    def __init__(self, config: Config, actor: str, audit_log: Path) -> None:
        self.config = config
        self.actor = actor
        self.audit = JsonLinesAudit(audit_log)
        self._pairs: dict[tuple[str, Files | None], FailoverPair] = {}

    def close(self) -> None:
        for p in self._pairs.values():
            p.close()

    def pair(self, name: str, *, leases: Files | None = None) -> FailoverPair:
        # open_pair caps the scans at the service's pool_scan_rate: an admin's scan at
        # 3 a.m. takes the same dhcpd CPU as the poller's (omapifo/_scan.py, a budget per peer)
        key = (name, leases)
        if key not in self._pairs:
            self._pairs[key] = open_pair(self.config, name, audit=self.audit, actor=self.actor,
                                         leases_files=leases)
        return self._pairs[key]

    def pair_names(self) -> list[str]:
        return sorted(self.config.pairs)

    def states(self) -> list[PairState]:
        return [self.pair(name).state() for name in self.pair_names()]

    def find_leases(self, query: str) -> LeaseSearch:
        return find_leases([self.pair(name) for name in self.pair_names()], query,
                           rate=self.config.service.pool_scan_rate)

    def history(self, pair: str, limit: int) -> dict[str, Any]:
        self.config.pair_config(pair)  # an unknown pair says so first
        raise ConfigError("the history is what `omapifo serve` records: ask the service with "
                          f"--api URL or ${API_URL_ENV} (token: {TOKEN_SOURCES})")

    def monitoring_probe(self, pair: str) -> PairProbe:
        """A probe round sent from here now (it needs port 67: root or the capability)."""
        return self.pair(pair).probe()

    def pools_from_file(self, pair: str, leases: str) -> PoolReport:
        pc = self.config.pair_config(pair)
        if pc.dhcpd_conf is None:
            raise ConfigError(f"pair {pair!r} has no dhcpd_conf in the configuration")
        return pools_from_files(pc.dhcpd_conf, leases, pair=pair,
                                failover_peer=pc.failover_peer)

    def leases_from_file(self, pair: str, leases: str, *, subnet: str | None,
                         state: str | None, hostname: str | None) -> LeaseList:
        self.config.pair_config(pair)  # an unknown pair says so first
        return leases_from_file(leases, subnet=subnet, state=state, hostname=hostname,
                                pair=pair)


class ApiBackend:
    """The REST service, through :class:`~omapifo.clients.client.Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def close(self) -> None:
        self.client.session.close()

    def pair(self, name: str, *, leases: Files | None = None) -> RemotePair:
        if leases is not None:
            raise ConfigError("--files/--leases-dir read local files: they do not go with "
                              f"{VIA_API} (the service reads the files it is configured with)")
        return RemotePair(self.client, name)

    def pair_names(self) -> list[str]:
        return [p.pair for p in self.client.pairs()]

    def states(self) -> list[PairState]:
        """Every pair in one request, from the service's last poll (not read afresh: the
        service polls every few seconds, and N fresh reads would cost N round trips)."""
        return self.client.pairs()

    def find_leases(self, query: str) -> LeaseSearch:
        return self.client.find_leases(query)

    def history(self, pair: str, limit: int) -> dict[str, Any]:
        return self.client.history(pair, limit=limit)

    def monitoring_probe(self, pair: str) -> PairProbe:
        """The service's last scheduled round (a reader's token is enough; nothing is
        sent because a check asked)."""
        return self.client.last_probe(pair)

    def pools_from_file(self, pair: str, leases: str) -> PoolReport:
        raise ConfigError(f"--leases reads local files: it does not go with {VIA_API}")

    def leases_from_file(self, pair: str, leases: str, *, subnet: str | None,
                         state: str | None, hostname: str | None) -> LeaseList:
        raise ConfigError(f"--leases reads local files: it does not go with {VIA_API}")


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
    the configuration file (``config_path``, else the one omapifo/_config.py's find_config
    finds)."""
    url = api_url(api)
    if url:
        return ApiBackend(Client(url, api_token(token_file), timeout=timeout))
    if token_file is not None:
        raise ConfigError(f"--token-file is the token for {VIA_API}; OMAPI needs none")
    actor = f"cli:{os.environ.get('SUDO_USER') or os.environ.get('USER') or os.getuid()}"
    path = Path(audit_log or os.environ.get("OMAPIFO_AUDIT_LOG") or DEFAULT_AUDIT_LOG)
    return DirectBackend(load_config(config_path), actor, path)
