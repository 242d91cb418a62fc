"""Bad input gets a 4xx problem+json, never a 500 or a stack trace (no lab needed)."""
from __future__ import annotations

import socket
import time

import pytest

from omapifo.api import create_app
from .conftest import OFFLINE_KEY as KEY
from .conftest import OPERATOR, READER, auth, offline_config


@pytest.fixture
def client(tmp_path):
    cfg = offline_config(tmp_path / "db.sqlite3")
    app = create_app(cfg, poll=False)
    yield app.test_client()
    app.extensions["omapifo"].close()


@pytest.mark.parametrize("method,path,body,status", [
    ("get", "/api/v1/pairs/nope", None, 404),
    ("get", "/api/v1/pairs/%00%ff..%2f", None, 404),
    ("get", "/api/v1/pairs/p/leases/2001:db8::1", None, 400),
    ("get", "/api/v1/pairs/p/leases/999.1.1.1", None, 400),
    ("get", "/api/v1/pairs/p/leases?mac=zz", None, 400),
    ("get", "/api/v1/pairs/p/leases", None, 409),  # a list needs the pair's dhcpd_conf
    ("get", "/api/v1/pairs/p?fresh=maybe", None, 422),
    ("get", "/api/v1/pairs/p?colour=blue", None, 422),
    ("get", "/api/v1/pairs/p/history?since=yesterday", None, 422),
    ("get", "/api/v1/pairs/p/history?limit=-1", None, 422),
    ("get", "/api/v1/pairs/p/peers/tertiary", None, 400),
    ("post", "/api/v1/pairs/p/peers/tertiary/partner-down", {"confirm": "p"}, 400),
    # checked in the URL's order: an unknown pair first, whatever the peer
    ("post", "/api/v1/pairs/nope/peers/tertiary/partner-down", {"confirm": "nope"}, 404),
    ("post", "/api/v1/pairs/nope/peers/tertiary/shutdown", {"confirm": "nope"}, 404),
    ("post", "/api/v1/pairs/nope/peers/tertiary/maintenance", {"confirm": "nope"}, 404),
    ("get", "/api/v1/pairs/nope/peers/tertiary", None, 404),
    ("post", "/api/v1/pairs/p/peers/primary/partner-down", {"confirm": "q"}, 400),
    ("post", "/api/v1/pairs/p/peers/primary/partner-down", {"confirm": "p", "x": 1}, 422),
    ("post", "/api/v1/pairs/p/peers/primary/partner-down", [1, 2], 422),
    ("post", "/api/v1/pairs/p/peers/primary/partner-down", {"confirm": 5}, 422),
])
def test_bad_requests(client, method, path, body, status):
    r = getattr(client, method)(path, json=body, headers=auth(OPERATOR))
    assert r.status_code == status, r.get_json()
    assert r.content_type == "application/problem+json"
    problem = r.get_json()
    assert problem["status"] == status and problem["detail"]
    assert "Traceback" not in r.get_data(as_text=True)


def test_unreachable_peers_give_502_and_refusals_409(client):
    r = client.get("/api/v1/pairs/p/leases/198.18.11.40", headers=auth(READER))
    assert r.status_code == 502 and "refused" in r.get_json()["detail"]
    r = client.post("/api/v1/pairs/p/peers/primary/partner-down", json={"confirm": "p"},
                    headers=auth(OPERATOR))
    assert r.status_code == 409


def test_one_peer_answers_with_its_own_fate(client, tmp_path):
    refused = client.get("/api/v1/pairs/p/peers/primary", headers=auth(READER))
    assert refused.status_code == 502 and "refused" in refused.get_json()["detail"]
    with socket.socket() as silent:  # accepts, never greets: what a cut link looks like
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        cfg = offline_config(tmp_path / "silent.sqlite3",
                             primary=f"127.0.0.1:{silent.getsockname()[1]}")
        app = create_app(cfg, poll=False)
        try:
            t = time.monotonic()
            r = app.test_client().get("/api/v1/pairs/p/peers/primary", headers=auth(READER))
            assert r.status_code == 504 and r.content_type == "application/problem+json"
            assert time.monotonic() - t < 2, "bounded by the pair's timeout"
            assert "primary" in r.get_json()["detail"]
        finally:
            app.extensions["omapifo"].close()


def test_oversized_and_deeply_nested_bodies(client):
    path = "/api/v1/pairs/p/peers/primary/partner-down"
    big = client.post(path, data=b"{" + b" " * 70000 + b"}", headers={
        **auth(OPERATOR), "Content-Type": "application/json"})
    assert big.status_code == 413 and big.content_type == "application/problem+json"
    deep = client.post(path, data=b"[" * 20000 + b"]" * 20000, headers={
        **auth(OPERATOR), "Content-Type": "application/json"})
    assert 400 <= deep.status_code < 500


def test_tokens_never_appear_in_responses(client):
    r = client.get("/api/v1/pairs/p", headers={"Authorization": "Bearer wrong-token"})
    assert r.status_code == 401 and "wrong-token" not in r.get_data(as_text=True)
    assert KEY not in client.get("/api/v1/pairs/p?fresh=1", headers=auth(READER)).get_data(
        as_text=True)


def test_the_cached_fast_path_answers_exactly_what_flask_would(client):
    svc = client.application.extensions["omapifo"]
    svc.poller.poll("p")  # a snapshot exists: the fast path may answer
    fast = client.get("/api/v1/pairs/p", headers=auth(READER))
    slow = client.get("/api/v1/pairs/p?fresh=0", headers=auth(READER))  # a query: Flask
    assert fast.status_code == slow.status_code == 200
    assert fast.get_data() == svc.poller.cached("p").body == slow.get_data()
    assert fast.content_type == slow.content_type
    assert client.get("/api/v1/pairs/p").status_code == 401  # no token: Flask answers
    assert client.get("/api/v1/pairs/p", headers={"Authorization": "Bearer x"}).status_code \
        == 401
    assert client.get("/api/v1/pairs/nope", headers=auth(READER)).status_code == 404
