"""The command line's scans draw at the service's ``pool_scan_rate``: an admin's
`omapifo pools`, `leases` or `leases find` on a production pair costs dhcpd the same CPU as the
poller's scan, so it is capped by the same number (omapifo._scan, one budget per peer)."""

from omapifo import _failover as failover
from omapifo.clients import backend as backend_module
from omapifo.clients.backend import DirectBackend
from omapifo._config import parse_config

P = "campus"


def test_direct_pools_and_leases_scan_at_the_configured_rate(monkeypatch, tmp_path):
    config = parse_config({"pairs": {P: {"primary": "127.0.0.1:9", "secondary": "127.0.0.1:10",
                                         "key_name": "k", "key": "eHh4eHh4eHh4eHh4eHh4eA=="}},
                           "service": {"pool_scan_rate": 123}})
    seen: dict[str, object] = {}
    monkeypatch.setattr(failover, "scan_pools", lambda pair, **kw: seen.update(pools=kw["rate"]))
    monkeypatch.setattr(failover, "list_leases",
                        lambda pair, **kw: seen.update(leases=kw["rate"]))
    monkeypatch.setattr(backend_module, "find_leases",
                        lambda pairs, query, **kw: seen.update(find=kw["rate"]))
    backend = DirectBackend(config, "test", tmp_path / "audit.log")
    backend.pair(P).pools()
    backend.pair(P).leases()
    backend.find_leases("pc-*")
    assert seen == {"pools": 123.0, "leases": 123.0, "find": 123.0}
