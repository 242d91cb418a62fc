"""Host reservations through the service: confirmed, guarded, audited, and on both peers."""
from __future__ import annotations

import pytest

from omapifo import FailoverPair, NotFound
from omapifo.errors import HostRefused

from .conftest import OPERATOR, READER, auth

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"
URL = f"/api/v1/pairs/{PAIR}/hosts"


def _fresh(lab, name):
    with FailoverPair(lab.pair_config()) as p:
        try:
            return p.host(name)
        except NotFound:
            return None


def test_add_show_delete_a_host_over_rest(healthy_lab, app):
    lab, c = healthy_lab, app.test_client()
    ip = str(lab.layout.client_net(2).network_address + 10)
    body = {"confirm": PAIR, "name": "api-h1", "ip": ip, "mac": "02:00:00:00:ee:01"}
    try:
        assert c.post(URL, json=body, headers=auth(READER)).status_code == 403
        assert c.post(URL, json=dict(body, confirm=None), headers=auth(OPERATOR)).status_code \
            == 400
        assert _fresh(lab, "api-h1") is None
        r = c.post(URL, json=body, headers=auth(OPERATOR))
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["agree"] is True
        seen = _fresh(lab, "api-h1")
        assert seen is not None and seen.agree and str(seen.secondary.ip) == ip
        got = c.get(f"{URL}/api-h1", headers=auth(READER)).get_json()
        assert got["primary"] == got["secondary"] == {"name": "api-h1", "ip": ip,
                                                      "mac": "02:00:00:00:ee:01",
                                                      "client_id": None}
        assert c.get(URL, query_string={"mac": "02:00:00:00:ee:01"},
                     headers=auth(READER)).get_json()["name"] == "api-h1"
        inpool = str(lab.layout.client_net(2).network_address + 40)
        r = c.post(URL, json=dict(body, name="api-h2", ip=inpool), headers=auth(OPERATOR))
        assert r.status_code == 409
        assert r.get_json()["type"] == HostRefused.problem_type()
        assert "inside the dynamic range" in r.get_json()["detail"]
        assert c.delete(f"{URL}/api-h1", json={}, headers=auth(OPERATOR)).status_code == 400
        assert _fresh(lab, "api-h1") is not None
        r = c.delete(f"{URL}/api-h1", json={"confirm": PAIR}, headers=auth(OPERATOR))
        assert r.status_code == 200, r.get_json()
        assert _fresh(lab, "api-h1") is None
        assert c.get(f"{URL}/api-h1", headers=auth(READER)).status_code == 404
        entries = c.get("/api/v1/audit", headers=auth(OPERATOR)).get_json()["entries"]
        got = [(e["actor"], e["action"], e["outcome"]) for e in reversed(entries)]
        assert got == [("noc", "add host", "rejected"), ("alice", "add host", "rejected"),
                       ("alice", "add host", "done"), ("alice", "add host", "refused"),
                       ("alice", "delete host", "rejected"), ("alice", "delete host", "done")]
    finally:
        with FailoverPair(lab.pair_config()) as p:
            for peer in p.peers.values():
                try:
                    peer.delete("host", [("name", b"api-h1")])
                except NotFound:
                    pass


def test_the_host_endpoints_are_in_the_openapi_document(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/pairs/{pair}/hosts"])
    assert {"get", "delete"} <= set(paths["/api/v1/pairs/{pair}/hosts/{name}"])
    assert "post" in paths["/api/v1/pairs/{pair}/hosts/{name}/sync"]
    assert "HostView" in spec["components"]["schemas"]
