"""Host reservations through the service: confirmed, guarded, audited, and on both peers."""
from __future__ import annotations

import pytest

from omapifo import FailoverPair, NotFound
from omapifo._errors import HostRefused

from .conftest import OPERATOR, READER, auth
from ..conftest import fresh_host

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"
URL = f"/api/v1/pairs/{PAIR}/hosts"



def test_add_show_delete_a_host_over_rest(healthy_lab, app):
    lab, c = healthy_lab, app.test_client()
    ip = str(lab.layout.client_net(2).network_address + 10)
    body = {"confirm": PAIR, "name": "api-h1", "ip": ip, "mac": "02:00:00:00:ee:01"}
    try:
        assert c.post(URL, json=body, headers=auth(READER)).status_code == 403
        assert c.post(URL, json=dict(body, confirm=None), headers=auth(OPERATOR)).status_code \
            == 400
        assert fresh_host(lab, "api-h1") is None
        r = c.post(URL, json=body, headers=auth(OPERATOR))
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["agree"] is True
        seen = fresh_host(lab, "api-h1")
        assert seen is not None and seen.agree and str(seen.secondary.ip) == ip
        got = c.get(f"{URL}/api-h1", headers=auth(READER)).get_json()
        assert got["primary"] == got["secondary"] == {"name": "api-h1", "ip": ip,
                                                      "mac": "02:00:00:00:ee:01",
                                                      "client_id": None}
        assert c.get(URL, query_string={"mac": "02:00:00:00:ee:01"},
                     headers=auth(READER)).get_json()["name"] == "api-h1"
        # the list: both peers' dhcpd.leases, the lab's configured dhcpd_leases
        listed = c.get(URL, headers=auth(READER)).get_json()
        assert listed["files"] == {"primary": str(lab.leases_path("primary")),
                                   "secondary": str(lab.leases_path("secondary"))}
        (mine,) = [h for h in listed["hosts"] if h["name"] == "api-h1"]
        assert mine["agree"] and "api-h1" not in listed["one_sided"]
        # its address for another client: found only in the files (OMAPI cannot find a
        # host by address, and dhcpd would take it), refused, and dhcpd has no api-h3
        r = c.post(URL, json=dict(body, name="api-h3", mac="02:00:00:00:ee:03"),
                   headers=auth(OPERATOR))
        assert r.status_code == 409, r.get_json()
        assert f"address {ip} is already reserved on the primary" in r.get_json()["detail"]
        assert fresh_host(lab, "api-h3") is None
        inpool = str(lab.layout.client_net(2).network_address + 40)
        r = c.post(URL, json=dict(body, name="api-h2", ip=inpool), headers=auth(OPERATOR))
        assert r.status_code == 409
        assert r.get_json()["type"] == HostRefused.problem_type()
        assert "inside the dynamic range" in r.get_json()["detail"]
        assert c.delete(f"{URL}/api-h1", json={}, headers=auth(OPERATOR)).status_code == 400
        assert fresh_host(lab, "api-h1") is not None
        r = c.delete(f"{URL}/api-h1", json={"confirm": PAIR}, headers=auth(OPERATOR))
        assert r.status_code == 200, r.get_json()
        assert fresh_host(lab, "api-h1") is None
        assert c.get(f"{URL}/api-h1", headers=auth(READER)).status_code == 404
        entries = c.get("/api/v1/audit", headers=auth(OPERATOR)).get_json()["entries"]
        got = [(e["actor"], e["action"], e["outcome"]) for e in reversed(entries)]
        assert got == [("noc", "add host", "rejected"), ("alice", "add host", "rejected"),
                       ("alice", "add host", "done"), ("alice", "add host", "refused"),
                       ("alice", "add host", "refused"),
                       ("alice", "delete host", "rejected"), ("alice", "delete host", "done")]
    finally:
        with FailoverPair(lab.pair_config()) as p:
            for peer in p.peers.values():
                for name in (b"api-h1", b"api-h3"):
                    try:
                        peer.delete("host", [("name", name)])
                    except NotFound:
                        pass


def test_the_host_endpoints_are_in_the_openapi_document(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/pairs/{pair}/hosts"])
    assert {"get", "delete"} <= set(paths["/api/v1/pairs/{pair}/hosts/{name}"])
    assert "post" in paths["/api/v1/pairs/{pair}/hosts/{name}/sync"]
    assert {"HostView", "HostList"} <= set(spec["components"]["schemas"])
    one_of = paths["/api/v1/pairs/{pair}/hosts"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["oneOf"]
    assert [s["$ref"].rsplit("/", 1)[1] for s in one_of] == ["HostList", "HostView"]
