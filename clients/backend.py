"""Where the command line gets its answers: straight over OMAPI, or through the service.

Both backends return the same JSON shapes (the REST service's schemas), so
``omapifo status`` prints the same with ``-c FILE`` as with ``--api URL``.
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol

from omapifo import (Config, FailoverPair, JsonLinesAudit, load_config, open_pair,
                     pools_from_files)
from omapifo.api import schemas as s
from omapifo.api.store import Store
from omapifo.errors import ConfigError

from .client import Client

DEFAULT_AUDIT_LOG = Path("~/.local/state/omapifo/audit.log")


class Backend(Protocol):
    def pair_names(self) -> list[str]: ...
    def state(self, pair: str) -> dict[str, Any]: ...
    def partner_down(self, pair: str, peer: str, *, force: bool, reason: str | None,
                     dry_run: bool) -> dict[str, Any]: ...
    def shutdown(self, pair: str, peer: str, *, force: bool, reason: str | None,
                 dry_run: bool) -> dict[str, Any]: ...
    def lease(self, pair: str, ip: str | None, mac: str | None,
              client_id: str | None) -> dict[str, Any]: ...
    def release(self, pair: str, ip: str, *, dry_run: bool) -> dict[str, Any]: ...
    def history(self, pair: str, limit: int) -> dict[str, Any]: ...
    def pools(self, pair: str, leases: str | None,
              progress: Callable[[int, int], None] | None) -> dict[str, Any]: ...


class DirectBackend:
    """The library over OMAPI, from the configuration file."""

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

    def state(self, pair: str) -> dict[str, Any]:
        return s.PairStateSchema().dump(self._pair(pair).state())

    def partner_down(self, pair: str, peer: str, *, force: bool, reason: str | None,
                     dry_run: bool) -> dict[str, Any]:
        return s.ActionResultSchema().dump(self._pair(pair).partner_down(
            peer, force=force, reason=reason, dry_run=dry_run, actor=self.actor))

    def shutdown(self, pair: str, peer: str, *, force: bool, reason: str | None,
                 dry_run: bool) -> dict[str, Any]:
        return s.ActionResultSchema().dump(self._pair(pair).shutdown(
            peer, force=force, reason=reason, dry_run=dry_run, actor=self.actor))

    def lease(self, pair: str, ip: str | None, mac: str | None,
              client_id: str | None) -> dict[str, Any]:
        return s.LeaseViewSchema().dump(self._pair(pair).lease(ip, mac=mac,
                                                               client_id=client_id))

    def release(self, pair: str, ip: str, *, dry_run: bool) -> dict[str, Any]:
        return s.LeaseViewSchema().dump(self._pair(pair).release(ip, actor=self.actor,
                                                                 dry_run=dry_run))

    def pools(self, pair: str, leases: str | None,
              progress: Callable[[int, int], None] | None) -> dict[str, Any]:
        fp = self._pair(pair)
        if leases is None:
            return s.PoolReportSchema().dump(fp.pools(progress=progress))
        if fp.config.dhcpd_conf is None:
            raise ConfigError(f"pair {pair!r} has no dhcpd_conf in the configuration")
        return s.PoolReportSchema().dump(pools_from_files(fp.config.dhcpd_conf, leases,
                                                          pair=pair))

    def history(self, pair: str, limit: int) -> dict[str, Any]:
        self._pair(pair)  # unknown pair: ConfigError
        db = self.config.service.database
        if not Path(db).exists():
            raise ConfigError(f"no history: the service's database {db} does not exist (history "
                              "is what `omapifo serve` recorded; or use --api URL)")
        store = Store(db)
        try:
            rows, total = store.transitions(pair, limit=limit)
        finally:
            store.close()
        return s.HistorySchema().dump({"pair": pair, "total": total, "limit": limit,
                                       "offset": 0, "transitions": rows})


class ApiBackend:
    """The REST service, through :class:`~omapifo.clients.client.Client`.

    The client returns the library's objects, dumped here with the same schemas as
    :class:`DirectBackend` uses: the CLI prints the same either way by construction.
    """

    def __init__(self, client: Client) -> None:
        self.client = client

    def close(self) -> None:
        self.client.session.close()

    def pair_names(self) -> list[str]:
        return [p.pair for p in self.client.pairs()]

    def state(self, pair: str) -> dict[str, Any]:
        return s.PairStateSchema().dump(self.client.pair(pair, fresh=True))

    def partner_down(self, pair: str, peer: str, *, force: bool, reason: str | None,
                     dry_run: bool) -> dict[str, Any]:
        return s.ActionResultSchema().dump(self.client.partner_down(
            pair, peer, force=force, reason=reason, dry_run=dry_run))

    def shutdown(self, pair: str, peer: str, *, force: bool, reason: str | None,
                 dry_run: bool) -> dict[str, Any]:
        return s.ActionResultSchema().dump(self.client.shutdown(
            pair, peer, force=force, reason=reason, dry_run=dry_run))

    def lease(self, pair: str, ip: str | None, mac: str | None,
              client_id: str | None) -> dict[str, Any]:
        return s.LeaseViewSchema().dump(self.client.lease(pair, ip, mac=mac,
                                                          client_id=client_id))

    def release(self, pair: str, ip: str, *, dry_run: bool) -> dict[str, Any]:
        return s.LeaseViewSchema().dump(self.client.release(pair, ip, dry_run=dry_run))

    def history(self, pair: str, limit: int) -> dict[str, Any]:
        return self.client.history(pair, limit=limit)

    def pools(self, pair: str, leases: str | None,
              progress: Callable[[int, int], None] | None) -> dict[str, Any]:
        if leases is not None:
            raise ConfigError("--leases reads local files: it does not go with --api")
        return s.PoolReportSchema().dump(self.client.pools(pair))


def open_backend(config_path: str | None, api: str | None,
                 audit_log: str | None) -> DirectBackend | ApiBackend:
    if api:
        token = os.environ.get("OMAPIFO_TOKEN")
        if not token:
            raise ConfigError("--api needs a token in the OMAPIFO_TOKEN environment variable")
        return ApiBackend(Client(api, token))
    actor = f"cli:{os.environ.get('SUDO_USER') or os.environ.get('USER') or os.getuid()}"
    path = Path(audit_log or os.environ.get("OMAPIFO_AUDIT_LOG") or DEFAULT_AUDIT_LOG)
    return DirectBackend(load_config(config_path), actor, path)
