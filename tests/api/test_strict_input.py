"""Strict input everywhere: what a request says that the service does not understand is a
422 naming the parameter, never silently ignored, and no reader input gives a 500
(issue 12; no lab needed: the pair's peers are closed loopback ports)."""
from __future__ import annotations

import select
import socket
import time

import pytest

from omapifo.api import create_app
from omapifo.api.app import MAX_BODY
from omapifo.clients import servecli
from omapifo._config import parse_config

from .conftest import OFFLINE_KEY, OPERATOR, READER, auth, offline_config

PD = "/api/v1/pairs/p/peers/primary/partner-down"


@pytest.fixture
def app(tmp_path):
    app = create_app(offline_config(tmp_path / "db.sqlite3"), poll=False)
    yield app
    app.extensions["omapifo"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def problem_of(r, status: int = 422) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    assert r.content_type == "application/problem+json"
    return r.get_json()


def names(problem: dict, location: str = "query") -> set[str]:
    return set(problem["errors"][location])


def assert_never_reached_the_library(app) -> None:
    """Nothing was attempted: the audit holds at most the request itself, as rejected
    (api/auditing.py records a POST to an action turned away before the library)."""
    entries, _ = app.extensions["omapifo"].store.audit()
    assert all(e.outcome == "rejected" and e.detail.startswith("HTTP 422") for e in entries), \
        entries


@pytest.mark.parametrize("method,path", [
    ("get", "/api/v1/pairs"), ("get", "/api/v1/pairs/p"), ("get", "/api/v1/pairs/p/history"),
    ("get", "/api/v1/pairs/p/peers/primary"), ("get", "/api/v1/pairs/p/leases/198.18.11.40"),
    ("get", "/api/v1/pairs/p/leases"), ("get", "/api/v1/pairs/p/pools"),
    ("get", "/api/v1/audit"), ("get", "/healthz"), ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"), ("post", PD),
    ("post", "/api/v1/pairs/p/peers/primary/shutdown"),
    ("post", "/api/v1/pairs/p/leases/198.18.11.40/release"),
])
def test_an_unknown_query_parameter_is_refused_on_every_endpoint(client, method, path):
    r = getattr(client, method)(path + "?colour=blue", json={"confirm": "p"},
                                headers=auth(OPERATOR))
    problem = problem_of(r)
    assert names(problem) == {"colour"} and "colour" in problem["detail"]


@pytest.mark.parametrize("path", [PD, "/api/v1/pairs/p/peers/primary/shutdown",
                                  "/api/v1/pairs/p/leases/198.18.11.40/release"])
def test_a_misspelled_dry_run_is_refused_and_nothing_is_done(client, app, path):
    problem = problem_of(client.post(path + "?dry-run=1", json={"confirm": "p"},
                                     headers=auth(OPERATOR)))
    assert names(problem) == {"dry-run"} and "dry_run" in problem["detail"]  # the right name
    assert_never_reached_the_library(app)  # not even a refusal


@pytest.mark.parametrize("path,query,name", [
    (PD, "dry_run=0&dry_run=1", "dry_run"),
    ("/api/v1/pairs/p", "fresh=0&fresh=1", "fresh"),
    ("/api/v1/pairs/p/history", "limit=1&limit=2", "limit"),
    ("/api/v1/pairs/p/leases", "mac=02:00:00:00:00:01&mac=02:00:00:00:00:02", "mac"),
])
def test_a_repeated_query_parameter_is_refused(client, app, path, query, name):
    method = client.post if path == PD else client.get
    problem = problem_of(method(f"{path}?{query}", json={"confirm": "p"},
                                headers=auth(OPERATOR)))
    assert names(problem) == {name} and "more than once" in problem["detail"]
    assert_never_reached_the_library(app)


@pytest.mark.parametrize("path,query,name", [
    ("/api/v1/pairs/p", "fresh=yes", "fresh"), ("/api/v1/pairs/p", "fresh=on", "fresh"),
    ("/api/v1/pairs/p", "fresh=TRUE", "fresh"), ("/api/v1/pairs/p", "fresh=", "fresh"),
    ("/api/v1/pairs/p", "fresh", "fresh"), ("/api/v1/pairs/p/pools", "fresh=y", "fresh"),
    (PD, "dry_run=t", "dry_run"), (PD, "dry_run=2", "dry_run"),
])
def test_a_query_boolean_is_true_false_1_or_0(client, app, path, query, name):
    method = client.post if path == PD else client.get
    r = method(f"{path}?{query}", json={"confirm": "p"}, headers=auth(OPERATOR))
    assert r.status_code == 422, r.get_json()
    assert name in r.get_json()["errors"]["query"]
    assert_never_reached_the_library(app)


def test_the_four_boolean_spellings_are_accepted(client):
    for value in ("true", "false", "1", "0"):
        r = client.get(f"/api/v1/pairs/p?fresh={value}", headers=auth(READER))
        assert r.status_code == 200, (value, r.get_json())
        r = client.post(f"{PD}?dry_run={value}", json={"confirm": "p"}, headers=auth(OPERATOR))
        assert r.status_code == 409, (value, r.get_json())  # refused by the guard: parsed


@pytest.mark.parametrize("force", ["yes", 1, "true", 0, None, "false"])
def test_force_is_only_a_json_boolean(client, app, force):
    problem = problem_of(client.post(PD, json={"confirm": "p", "force": force},
                                     headers=auth(OPERATOR)))
    assert names(problem, "json") == {"force"}
    assert_never_reached_the_library(app)


@pytest.mark.parametrize("path", [
    "/api/v1/pairs/p/history?since=%ff", "/api/v1/pairs/p/leases?mac=%ff",
    "/api/v1/pairs/p/leases?client_id=01%c3", "/api/v1/pairs/p?fresh=%ed%a0%80",
])
def test_query_values_that_are_not_utf8_are_refused(client, path):
    problem = problem_of(client.get(path, headers=auth(READER)))
    name = path.split("?")[1].split("=")[0]
    assert names(problem) == {name} and "UTF-8" in problem["detail"]


def test_query_names_that_are_not_utf8_are_refused(client):
    problem = problem_of(client.get("/api/v1/pairs/p?%ff=1", headers=auth(READER)))
    assert names(problem) == {"%ff"}


@pytest.mark.parametrize("path,body,name", [
    (PD, b'{"confirm": "p", "reason": "\\ud800"}', "reason"),
    (PD, b'{"confirm": "p\\udfff"}', "confirm"),
    ("/api/v1/pairs/p/leases/198.18.11.40/release", b'{"confirm": "\\ud83d"}', "confirm"),
])
def test_json_strings_with_lone_surrogates_are_refused(client, app, path, body, name):
    r = client.post(path, data=body, headers={**auth(OPERATOR),
                                               "Content-Type": "application/json"})
    problem = problem_of(r)
    assert names(problem, "json") == {name}
    assert_never_reached_the_library(app)


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_since_outside_the_utc_range_is_422_not_500(client, since):
    problem = problem_of(client.get("/api/v1/pairs/p/history", query_string={"since": since},
                                    headers=auth(READER)))
    assert names(problem) == {"since"}


def test_pools_with_a_missing_dhcpd_conf_name_the_file(tmp_path):
    missing = tmp_path / "gone" / "dhcpd.conf"
    cfg = parse_config({
        "pairs": {"p": {"primary": "127.0.0.1:9", "secondary": "127.0.0.1:10", "key_name": "k",
                        "key": OFFLINE_KEY, "timeout": 0.3, "dhcpd_conf": str(missing)}},
        "service": {"database": str(tmp_path / "db.sqlite3"), "tokens": [
            {"name": "noc", "role": "reader", "sha256": auth_digest()}]}})
    app = create_app(cfg, poll=False)
    try:
        for query in ("", "?fresh=1"):
            r = app.test_client().get(f"/api/v1/pairs/p/pools{query}", headers=auth(READER))
            problem = problem_of(r, 409)
            assert str(missing) in problem["detail"] and problem["title"] == "Not configured"
    finally:
        app.extensions["omapifo"].close()


def auth_digest() -> str:
    from omapifo.api.auth import digest

    return digest(READER)


def test_waitress_refuses_a_huge_body_before_reading_it(tmp_path):
    """An unauthenticated POST announcing 1e9 bytes is answered (413 or closed) after at
    most 1 MiB sent; before, waitress (1 GiB default limit) read ~950 MiB first."""
    url, run, stop = servecli.start(offline_config(tmp_path / "db.sqlite3"), "127.0.0.1:0")
    thread = servecli.run_in_thread(run)
    host, port = url.removeprefix("http://").split(":")
    chunk, sent, answer = b"x" * 65536, 0, b""
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(f"POST {PD} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
                      "\r\nContent-Length: 1000000000\r\n\r\n".encode())
            deadline = time.monotonic() + 10
            while sent <= 1 << 20 and time.monotonic() < deadline:
                readable, _, _ = select.select([s], [], [], 0.05)
                if readable:
                    answer = s.recv(4096)
                    break
                try:
                    s.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break  # closed by the server: also an answer
                sent += len(chunk)
        assert sent <= 1 << 20, f"{sent} bytes sent and still no answer"
        assert not answer or answer.startswith(b"HTTP/1.1 413"), answer[:100]
    finally:
        stop()
        thread.join(10)
    assert MAX_BODY == 64 * 1024
