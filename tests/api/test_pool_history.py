"""The poller's time series of pool scans: the store's retention and the v1 endpoint
(issue 16). No lab: reports are built by hand, the service is the offline one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from omapifo import PoolCounts, PoolReport, Role
from omapifo.api import create_app
from omapifo.api.store import Store
from omapifo._config import parse_config
from omapifo._errors import ConfigError

from .conftest import READER, auth, offline_config

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def report(at: datetime, active: int = 10, errors: dict[str, str] | None = None,
           pair: str = "p") -> PoolReport:
    pool = PoolCounts("198.18.11.0/24", "198.18.11.0/24", (("198.18.11.10", "198.18.11.109"),),
                      "p", 100, active, 45 - active // 2, 45 - active // 2, 0, 0, 0, 0, 0, 0,
                      0, runway={"primary": 45 - active // 2, "secondary": 45 - active // 2})
    return PoolReport(pair, (pool,), at, "omapi", 0.1, errors or {})


def test_scans_are_kept_for_the_retention_and_no_longer(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    hour = 3600.0
    for minutes in range(0, 181, 30):  # 7 scans over three hours
        store.add_pool_scan(report(T0 + timedelta(minutes=minutes), active=minutes // 10),
                            retention=hour)
    store.add_pool_scan(report(T0, pair="other"), retention=hour)
    points = store.pool_history("p")
    # the last scan is at +180 min: +120, +150 and +180 are within the hour before it
    assert [p.at for p in points] == [T0 + timedelta(minutes=m) for m in (120, 150, 180)]
    assert points[-1].active == 18 and points[-1].utilization == 18.0
    assert points[-1].runway == {"primary": 36, "secondary": 36}
    assert len(store.pool_history("other")) == 1  # pruning one pair leaves the others
    # the newest two, oldest first
    assert [p.at for p in store.pool_history("p", limit=2)] == [p.at for p in points[1:]]
    assert store.pool_history("p", since=T0 + timedelta(minutes=150))[0].active == 15
    store.close()


def test_an_incomplete_scan_is_not_a_point(tmp_path: Path) -> None:
    store = Store(":memory:")
    store.add_pool_scan(report(T0, errors={Role.SECONDARY: "timed out"}), retention=60)
    assert store.pool_history("p") == []


def test_the_endpoint_documents_and_serves_the_series(tmp_path: Path) -> None:
    app = create_app(offline_config(tmp_path / "s.sqlite3"), poll=False)
    try:
        svc = app.extensions["omapifo"]
        for minutes in (0, 5):
            svc.store.add_pool_scan(report(T0 + timedelta(minutes=minutes)), retention=86400)
        c = app.test_client()
        body = c.get("/api/v1/pairs/p/pools/history", headers=auth(READER)).get_json()
        assert body["pair"] == "p" and body["retention"] == 604800.0
        assert [p["at"] for p in body["points"]] == [
            (T0 + timedelta(minutes=m)).isoformat() for m in (0, 5)]
        assert body["points"][0]["runway"] == {"primary": 40, "secondary": 40}
        assert c.get("/api/v1/pairs/p/pools/history?limit=1", headers=auth(READER)
                     ).get_json()["points"][0]["at"] == (T0 + timedelta(minutes=5)).isoformat()
        assert c.get("/api/v1/pairs/p/pools/history?bogus=1",
                     headers=auth(READER)).status_code == 422
        assert c.get("/api/v1/pairs/p/pools/history?limit=0",
                     headers=auth(READER)).status_code == 422
        assert c.get("/api/v1/pairs/nope/pools/history", headers=auth(READER)).status_code == 404
        assert c.get("/api/v1/pairs/p/pools/history").status_code == 401
        spec = c.get("/api/v1/openapi.json").get_json()
        op = spec["paths"]["/api/v1/pairs/{pair}/pools/history"]["get"]
        assert {p["name"] for p in op["parameters"] if p["in"] == "query"} == {"since", "limit"}
    finally:
        app.extensions["omapifo"].close()


def test_retention_is_configurable_and_bounded() -> None:
    base = {"pairs": {}}
    assert parse_config(base).service.pool_history_retention == 604800.0
    cfg = parse_config({**base, "service": {"pool_history_retention": 3600}})
    assert cfg.service.pool_history_retention == 3600.0
    with pytest.raises(ConfigError, match="pool_history_retention"):
        parse_config({**base, "service": {"pool_history_retention": -1}})
