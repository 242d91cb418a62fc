"""Which Host the service answers to, and the status page's Secure cookie behind a TLS
proxy (issue 21, item 5): through Flask's test client and through a real waitress server.

DNS rebinding: a page on evil.example makes its name resolve to the service's address;
the browser then sends ``Host: evil.example:8067`` and may read the answers (same
origin). The service answers only its own names."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from omapifo import Config
from omapifo.api import create_app
from omapifo.api.app import allowed_hosts
from omapifo.api.page import COOKIE
from omapifo.clients import servecli
from omapifo._config import ServiceConfig, parse_config
from omapifo._errors import ConfigError

from .conftest import READER, auth, offline_config

EVIL = "evil.example:8067"
# waitress's loop outlives stop() while a keep-alive connection is open (measured: the
# join waited its whole 10 s): each request here closes its connection
CLOSE = {"Connection": "close"}


def with_service(config: Config, **changes: object) -> Config:
    return dataclasses.replace(config, service=dataclasses.replace(config.service, **changes))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    cfg = with_service(offline_config(tmp_path / "s.sqlite3"),
                       allowed_hosts=("dhcp-ops.example.edu",))
    app = create_app(cfg, poll=False)
    yield app
    app.extensions["omapifo"].close()


def test_the_default_names_are_the_listen_address_and_localhost():
    assert allowed_hosts(ServiceConfig()) == ("127.0.0.1", "localhost")
    assert allowed_hosts(ServiceConfig(listen="198.18.1.5:8067",
                                       allowed_hosts=("ops.example.edu",))) == (
        "198.18.1.5", "localhost", "127.0.0.1", "ops.example.edu")


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/", "/login", "/api/v1/pairs",
                                  "/api/v1/pairs/p", "/api/v1/openapi.json"])
def test_a_foreign_host_gets_400_with_a_problem_on_every_path(app, path):
    app.extensions["omapifo"].poller.poll("p")  # /api/v1/pairs/p: the cached fast path too
    c = app.test_client()
    for host in (EVIL, "evil.example", "127.0.0.1.evil.example", "localhost.evil.example"):
        r = c.get(path, headers={"Host": host, **auth(READER)})
        assert r.status_code == 400, (host, r.status_code)
        assert r.mimetype == "application/problem+json"
        assert r.json["detail"] == (f"this service does not answer to the Host {host!r}: "
                                    "add the name clients use to [service] allowed_hosts")
    for host in ("localhost", "127.0.0.1:8067", "localhost:1", "dhcp-ops.example.edu",
                 "dhcp-ops.example.edu:443"):
        r = c.get(path, headers={"Host": host, **auth(READER)})
        assert r.status_code in (200, 302), (host, r.status_code)


def test_a_foreign_host_cannot_act_or_log_in(app):
    c = app.test_client()
    r = c.post("/login", data={"token": READER}, headers={"Host": EVIL})
    assert r.status_code == 400 and "Set-Cookie" not in r.headers
    r = c.post("/api/v1/pairs/p/peers/secondary/partner-down?dry_run=1",
               json={"confirm": "p"}, headers={"Host": EVIL})
    assert r.status_code == 400  # before authentication: not a 401


def test_a_real_server_refuses_a_rebinding_host_and_answers_its_own(tmp_path):
    url, run, stop = servecli.start(offline_config(tmp_path / "db.sqlite3"), "127.0.0.1:0")
    loop = servecli.run_in_thread(run)
    try:
        port = url.rsplit(":", 1)[1]
        r = requests.get(f"{url}/metrics", headers={"Host": f"evil.example:{port}", **CLOSE},
                         timeout=10)
        assert r.status_code == 400 and "evil.example" in r.json()["detail"]
        assert "omapifo_" not in r.text  # nothing of the metrics
        assert requests.get(f"{url}/metrics", headers=CLOSE,
                            timeout=10).status_code == 200  # 127.0.0.1
        assert requests.get(f"{url}/metrics", headers={"Host": f"localhost:{port}", **CLOSE},
                            timeout=10).status_code == 200
    finally:
        stop()
        loop.join(timeout=10)


def test_allowed_hosts_and_trusted_proxies_are_checked():
    svc = parse_config({"pairs": {}, "service": {"allowed_hosts": ["ops.example.edu",
                                                                   "198.18.1.5"],
                                                 "trusted_proxies": 1}}).service
    assert svc.allowed_hosts == ("ops.example.edu", "198.18.1.5") and svc.trusted_proxies == 1
    assert (ServiceConfig().allowed_hosts, ServiceConfig().trusted_proxies) == ((), 0)
    for bad, words in ((["ops.example.edu:443"], "without a port"),
                       (["evil example"], "neither a host name nor an IPv4 address"),
                       (["ops.example.edu\n"], "neither a host name"),
                       ("ops.example.edu", "Not a valid list")):
        with pytest.raises(ConfigError, match=f"service.allowed_hosts.*{words}"):
            parse_config({"pairs": {}, "service": {"allowed_hosts": bad}})
    for bad in (-1, 9, 1.5, "1", True):
        with pytest.raises(ConfigError, match="service.trusted_proxies"):
            parse_config({"pairs": {}, "service": {"trusted_proxies": bad}})


# -- the session cookie behind a TLS proxy --------------------------------------------

def login_cookie(app: Flask, **headers: str) -> str:
    r = app.test_client().post("/login", data={"token": READER}, headers=headers)
    assert r.status_code == 302
    return r.headers["Set-Cookie"]


def test_the_cookie_is_secure_when_a_trusted_proxy_says_tls(tmp_path):
    base = offline_config(tmp_path / "s.sqlite3")
    proxied = create_app(with_service(base, trusted_proxies=1), poll=False)
    direct = create_app(base, poll=False)
    try:
        assert "; Secure" in login_cookie(proxied, **{"X-Forwarded-Proto": "https"})
        assert "; Secure" not in login_cookie(proxied)  # the proxy says plain http
        assert "; Secure" not in login_cookie(proxied, **{"X-Forwarded-Proto": "http"})
        # not told of a proxy: the header is anyone's, and is not believed
        assert "; Secure" not in login_cookie(direct, **{"X-Forwarded-Proto": "https"})
        # logging out clears the Secure cookie with a Secure Set-Cookie
        c = proxied.test_client()
        tls = {"X-Forwarded-Proto": "https"}
        assert c.post("/login", data={"token": READER}, headers=tls).status_code == 302
        r = c.post("/logout", headers=tls)
        assert f"{COOKIE}=;" in r.headers["Set-Cookie"] and "; Secure" in r.headers["Set-Cookie"]
    finally:
        proxied.extensions["omapifo"].close()
        direct.extensions["omapifo"].close()


@pytest.mark.parametrize("proxies", [0, 1])
def test_through_waitress_the_cookie_follows_the_setting(tmp_path, proxies):
    """waitress drops X-Forwarded-* unless told which proxy sends them (the header never
    reached the app before: the cookie was never Secure); with trusted_proxies it keeps
    them for ProxyFix."""
    cfg = with_service(offline_config(tmp_path / "db.sqlite3"), trusted_proxies=proxies)
    url, run, stop = servecli.start(cfg, "127.0.0.1:0")
    loop = servecli.run_in_thread(run)
    try:
        r = requests.post(f"{url}/login", data={"token": READER}, allow_redirects=False,
                          headers={"X-Forwarded-Proto": "https", **CLOSE}, timeout=10)
        assert r.status_code == 302
        assert ("; Secure" in r.headers["Set-Cookie"]) is bool(proxies)
    finally:
        stop()
        loop.join(timeout=10)
