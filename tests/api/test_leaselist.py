"""GET /api/v1/pairs/{pair}/leases (a page of the lease list) and GET /api/v1/leases?q=
(search across pairs) against the lab; bad filters and cursors without it."""
from __future__ import annotations

import pytest

from omapifo import FailoverPair
from omapifo.api import create_app
from omapifo.api.schemas.leases import decode_cursor, encode_cursor

from .conftest import READER, auth, offline_config

PAIR = "classroom-1-6"
MAC = "02:00:00:bb:1e:01"


@pytest.fixture
def offline(tmp_path):
    app = create_app(offline_config(tmp_path / "db.sqlite3"), poll=False)
    yield app.test_client()
    app.extensions["omapifo"].close()


@pytest.mark.parametrize("query,status,says", [
    ("?cursor=zz", 422, "not a cursor this service gave out"),
    ("?cursor=" + encode_cursor(__import__("ipaddress").IPv4Address("1.2.3.4"))[:-1], 422,
     "not a cursor"),
    ("?state=bound", 422, "Must be one of"),
    ("?limit=0", 422, "greater than or equal to 1"),
    ("?subnet=198.18.11.0/33", 400, "not a network"),
    ("?hostname=a%20b", 400, "no blanks"),
    ("?mac=02:00:00:00:00:01&state=active", 400, "take no list filters"),
    ("", 409, "no dhcpd_conf"),  # the offline pair has none: nothing to list
])
def test_bad_list_requests_say_what_is_wrong(offline, query, status, says):
    r = offline.get(f"/api/v1/pairs/p/leases{query}", headers=auth(READER))
    assert r.status_code == status, r.get_json()
    assert r.content_type == "application/problem+json"
    assert says in str(r.get_json()), r.get_json()


def test_cursor_round_trips_and_is_opaque():
    ip = __import__("ipaddress").IPv4Address("198.18.11.40")
    text = encode_cursor(ip)
    assert "198" not in text and decode_cursor(text) == ip


def test_find_names_a_pair_it_cannot_ask(offline):
    r = offline.get("/api/v1/leases?q=198.18.11.40", headers=auth(READER))
    assert r.status_code == 200
    body = r.get_json()
    assert body["kind"] == "ip" and body["matches"] == [] and "p" in body["errors"]
    assert offline.get("/api/v1/leases", headers=auth(READER)).status_code == 422


@pytest.mark.integration
def test_pages_of_the_list_and_the_search_show_a_real_client(healthy_lab, app):
    c = app.test_client()
    ip = healthy_lab.client(4, mac=MAC)  # not subnet 2: test_leases.py wants its own MAC
    net = str(healthy_lab.layout.client_net(4))
    rows, cursor = [], None
    for _ in range(200):  # bounded: 10 rows a page
        q = f"?subnet={net}&limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = c.get(f"/api/v1/pairs/{PAIR}/leases{q}", headers=auth(READER)).get_json()
        assert len(page["leases"]) <= 10 and page["complete"]
        rows += page["leases"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [r["ip"] for r in rows] == sorted({r["ip"] for r in rows},
                                             key=lambda x: tuple(map(int, x.split("."))))
    with FailoverPair(healthy_lab.pair_config()) as own:  # dhcpd, read on our own
        whole = own.leases(subnet=net)
        view = own.lease(ip)
    assert [r["ip"] for r in rows] == [str(e.ip) for e in whole.leases]
    mine = next(r for r in rows if r["ip"] == ip)
    assert mine["state"]["name"] == "active" and mine["hardware_address"] == MAC
    assert mine["served_by"] == str(view.serving)
    active = c.get(f"/api/v1/pairs/{PAIR}/leases?state=active", headers=auth(READER))
    assert ip in {r["ip"] for r in active.get_json()["leases"]}
    found = c.get(f"/api/v1/leases?q={MAC}", headers=auth(READER)).get_json()
    assert [(m["pair"], m["lease"]["ip"]) for m in found["matches"]] == [(PAIR, ip)]
    assert found["kind"] == "mac" and found["errors"] == {}
    # the lookup form of the same endpoint answers one lease, as before
    by_mac = c.get(f"/api/v1/pairs/{PAIR}/leases?mac={MAC}", headers=auth(READER)).get_json()
    assert by_mac["ip"] == ip and by_mac["agree"] is True
