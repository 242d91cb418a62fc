"""The REST service against the real pair (issue: REST service, "Done when")."""
from __future__ import annotations

import time

import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from omapifo import Evidence, FailoverState as S, LeaseState, Role, load_config
from omapifo.api import create_app

from ..conftest import fresh_lease, fresh_state
from .conftest import OPERATOR, POLL, READER, auth, wait_for

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"


def test_pairs_and_state_read_normal(healthy_lab, app):
    c = app.test_client()
    pairs = c.get("/api/v1/pairs", headers=auth(READER)).get_json()["pairs"]
    assert [p["pair"] for p in pairs] == [PAIR]
    st = c.get(f"/api/v1/pairs/{PAIR}?fresh=1", headers=auth(READER)).get_json()
    assert st["primary"]["local_state"] == {"name": "normal", "number": 2}
    assert st["secondary"]["partner_state"]["name"] == "normal"
    assert st["health"]["level"] == "ok" and st["read_at"].endswith("+00:00")
    assert c.get(f"/api/v1/pairs/{PAIR}").status_code == 401


def test_stop_partner_down_and_audit_survive_a_restart(healthy_lab, app, service_cfg):
    lab, c = healthy_lab, app.test_client()
    url = f"/api/v1/pairs/{PAIR}/peers/secondary/partner-down"
    assert wait_for(lambda: app.extensions["omapifo"].poller.cached(PAIR), 5)
    assert c.post(url, json={}, headers=auth(OPERATOR)).status_code == 400  # no confirm
    assert c.post(url, json={"confirm": PAIR}, headers=auth(READER)).status_code == 403
    refused = c.post(url, json={"confirm": PAIR}, headers=auth(OPERATOR))
    assert refused.status_code == 409
    assert refused.content_type == "application/problem+json"
    assert "not communications-interrupted" in refused.get_json()["detail"]

    lab.stop(Role.PRIMARY)
    stopped = time.monotonic()

    def interrupted():
        st = c.get(f"/api/v1/pairs/{PAIR}", headers=auth(READER)).get_json()
        return st["secondary"]["local_state"]["name"] == "communications-interrupted"
    # dhcpd notices at once (the facts file: within a second) and the poller within one
    # interval; the bound is generous for a loaded 2-core CI machine, the time is reported
    assert wait_for(interrupted, POLL + 10, step=0.05), "not seen within one poll + 10 s"
    print(f"seen {time.monotonic() - stopped:.2f} s after the stop")
    history = c.get(f"/api/v1/pairs/{PAIR}/history", headers=auth(READER)).get_json()
    assert any(t["peer"] == "secondary" and t["field"] == "local_state"
               and t["from"] == "normal" and t["to"] == "communications-interrupted"
               for t in history["transitions"])

    dry = c.post(url + "?dry_run=1", json={"confirm": PAIR}, headers=auth(OPERATOR))
    assert dry.status_code == 200 and dry.get_json()["dry_run"] is True
    done = c.post(url, json={"confirm": PAIR, "reason": "primary stopped in the lab"},
                  headers=auth(OPERATOR))
    assert done.status_code == 200, done.get_json()
    now = fresh_state(lab)  # both peers read afresh, not the answer's "after"
    assert now.secondary.local_state is S.PARTNER_DOWN
    assert now.primary.evidence is Evidence.DHCPD_STOPPED

    app.extensions["omapifo"].close()  # a service restart: a new app on the same database
    again = create_app(load_config(service_cfg), poll=False)
    try:
        c2 = again.test_client()
        assert c2.get("/api/v1/audit", headers=auth(READER)).status_code == 403
        entries = c2.get("/api/v1/audit", headers=auth(OPERATOR)).get_json()["entries"]
        outcomes = [(e["action"], e["outcome"], e["actor"]) for e in entries]
        assert ("partner-down", "done", "alice") in outcomes
        assert ("partner-down", "refused", "alice") in outcomes
        assert ("partner-down", "dry-run", "alice") in outcomes
        assert entries[0]["reason"] == "primary stopped in the lab"
    finally:
        again.extensions["omapifo"].close()


def test_a_lease_from_a_real_client_reads_and_releases(healthy_lab, app):
    c = app.test_client()
    ip = healthy_lab.client(1, mac="02:00:00:bb:00:01")
    view = c.get(f"/api/v1/pairs/{PAIR}/leases/{ip}", headers=auth(READER)).get_json()
    assert view["state"]["name"] == "active" and view["agree"] is True
    by_mac = c.get(f"/api/v1/pairs/{PAIR}/leases?mac=02:00:00:bb:00:01", headers=auth(READER))
    assert by_mac.get_json()["ip"] == ip
    url = f"/api/v1/pairs/{PAIR}/leases/{ip}/release"
    assert c.post(url, json={"confirm": PAIR}, headers=auth(READER)).status_code == 403
    dry = c.post(url + "?dry_run=1", json={"confirm": PAIR}, headers=auth(OPERATOR))
    assert dry.status_code == 200 and dry.get_json()["state"]["name"] == "active"
    assert fresh_lease(healthy_lab, ip).state is LeaseState.ACTIVE  # dhcpd, read again
    done = c.post(url, json={"confirm": PAIR}, headers=auth(OPERATOR))
    assert done.status_code == 200
    view = fresh_lease(healthy_lab, ip)  # both peers read afresh, not the answer
    assert view.primary and view.secondary, view.errors
    assert LeaseState.ACTIVE not in (view.primary.state, view.secondary.state)
    again = c.post(url, json={"confirm": PAIR}, headers=auth(OPERATOR))
    assert again.status_code == 409 and "not active" in again.get_json()["detail"]


def test_metrics_parse_and_describe_both_peers(healthy_lab, app):
    c = app.test_client()
    c.get(f"/api/v1/pairs/{PAIR}?fresh=1", headers=auth(READER))
    text = c.get("/metrics").get_data(as_text=True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    local = {s.labels["peer"]: s.value for s in families["omapifo_peer_local_state"].samples}
    assert local == {"primary": 2.0, "secondary": 2.0}
    up = [s for s in families["omapifo_peer_state"].samples
          if s.labels["state"] == "normal" and s.value == 1.0]
    assert len(up) == 2
    assert "omapifo_poll_duration_seconds" in families


def test_openapi_document_validates_and_has_every_route(app):
    c = app.test_client()
    spec = c.get("/api/v1/openapi.json").get_json()
    validate(spec)
    documented = {p.replace("{", "<").replace("}", ">") for p in spec["paths"]}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint.startswith("v1."):
            path = rule.rule.replace("<string:", "<")
            assert path in documented, path
    assert c.get("/api/v1/docs").status_code == 200


def test_pools_match_the_librarys_numbers(healthy_lab, app, pair):
    c = app.test_client()
    healthy_lab.client(2, mac="02:00:00:bb:00:02")
    got = c.get(f"/api/v1/pairs/{PAIR}/pools?fresh=1", headers=auth(READER))
    assert got.status_code == 200, got.get_json()
    report = got.get_json()
    lib = pair.pools()
    assert report["complete"] and report["source"] == "omapi"
    assert [(p["name"], p["total"], p["active"], p["free"], p["backup"])
            for p in report["pools"]] == [(p.name, p.total, p.active, p.free, p.backup)
                                          for p in lib.pools]
    cached = c.get(f"/api/v1/pairs/{PAIR}/pools", headers=auth(READER)).get_json()
    assert cached["scanned_at"] == report["scanned_at"]  # from the last scan, not a new one
    text = c.get("/metrics").get_data(as_text=True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    runway = [s for s in families["omapifo_pool_runway_addresses"].samples]
    assert len(runway) == 2 * len(lib.pools)
