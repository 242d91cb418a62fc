"""The status page without a browser (issue 16): access by cookie or configuration, the
API's bearer rule unchanged, strict queries, read-only, light. The browser tests on the
lab are tests/api/test_status_page_browser.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

from omapifo import Role
from omapifo.api import create_app
from omapifo.api.charts import MAX_POINTS
from omapifo.api.page import COOKIE, _commands
from omapifo._severity import Level, Note
from omapifo._config import parse_config

from .conftest import OPERATOR, READER, auth, offline_config
from .test_pool_history import report

LIMIT = 200 * 1024  # the issue: the first page under 200 KB in all


@pytest.fixture
def page_app(tmp_path: Path):
    app = create_app(offline_config(tmp_path / "s.sqlite3"), poll=False)
    yield app
    app.extensions["omapifo"].close()


def login(app: Flask, token: str = READER):
    c = app.test_client()
    r = c.post("/login", data={"token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    return c, r.headers["Set-Cookie"]


def test_the_page_asks_for_a_login_and_sets_a_strict_httponly_signed_cookie(page_app) -> None:
    c = page_app.test_client()
    assert c.get("/").status_code == 302 and c.get("/").headers["Location"] == "/login"
    assert c.get("/pairs/p").status_code == 302
    assert c.get("/page/summary").status_code == 401  # the script's fetch: no redirect
    assert c.get("/login").status_code == 200
    assert c.post("/login", data={"token": "wrong"}).status_code == 401
    c, cookie = login(page_app)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert READER not in value  # the token itself is never in the cookie
    assert c.get("/").status_code == 200 and c.get("/page/summary").status_code == 200
    # a tampered cookie is no session
    other = page_app.test_client()
    other.set_cookie(COOKIE, value[:-2] + "xx")
    assert other.get("/").status_code == 302
    r = c.post("/logout")
    assert r.status_code == 302 and f"{COOKIE}=;" in r.headers["Set-Cookie"]
    assert c.get("/").status_code == 302


def test_the_api_keeps_its_bearer_rule(page_app) -> None:
    c, _ = login(page_app, OPERATOR)
    # a page session is no API credential, for reads or for actions
    assert c.get("/api/v1/pairs/p/history").status_code == 401
    assert c.post("/api/v1/pairs/p/peers/primary/partner-down",
                  json={"confirm": "p"}).status_code == 401
    assert c.get("/api/v1/pairs/p/history", headers=auth(READER)).status_code == 200
    # and a bearer token is no page session
    assert page_app.test_client().get("/", headers=auth(READER)).status_code == 302


def test_open_status_page_needs_no_login(tmp_path: Path) -> None:
    app = create_app(parse_config({"pairs": {}, "service": {
        "database": str(tmp_path / "s.sqlite3"), "open_status_page": True}}), poll=False)
    try:
        c = app.test_client()
        page = c.get("/")
        assert page.status_code == 200 and b"Log out" not in page.data
        assert c.get("/api/v1/pairs").status_code == 401  # the API stays closed
    finally:
        app.extensions["omapifo"].close()


def test_queries_are_strict_and_unknown_pairs_404(page_app) -> None:
    c, _ = login(page_app)
    assert c.get("/?refresh=1").status_code == 422
    assert c.get("/pairs/nope").status_code == 404
    assert c.get("/page/pairs/nope/charts").status_code == 404


def test_states_come_first_charts_later_and_the_page_is_light(page_app) -> None:
    svc = page_app.extensions["omapifo"]
    svc.poller.poll("p")  # both peers refused: critical, with the doctor's next step
    t0 = datetime.now(timezone.utc) - timedelta(days=7)
    for i in range(1000):  # a week of scans every 10 minutes: the largest chart it draws
        svc.store.add_pool_scan(report(t0 + timedelta(minutes=10 * i), active=i % 80),
                                retention=8 * 86400)
    c, _ = login(page_app)
    index = c.get("/")
    pair = c.get("/pairs/p")
    charts = c.get("/page/pairs/p/charts")
    for r in (index, pair, charts):
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    html = pair.data.decode()
    assert 'name="viewport"' in html and "<svg" not in html  # no chart in the first HTML
    assert 'data-field="local_state">does not answer' in html and "critical" in html
    assert "Next step:" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert len(index.data) < LIMIT and len(pair.data) + len(charts.data) < LIMIT, (
        len(index.data), len(pair.data), len(charts.data))
    # a week of scans is thinned to at most MAX_POINTS marks per line, the worst of each slice
    assert charts.data.count(b'class="point"') == 3 * MAX_POINTS
    # the week's worst (active 79: utilisation 79 %, runway 45 - 39) survives the thinning
    assert b'data-value="79"' in charts.data and b'data-value="6"' in charts.data


def test_the_commands_fill_in_the_confirm_body_and_the_page_performs_none(page_app) -> None:
    """A note that makes partner-down the next step: the page writes out the commands
    (curl with the confirm body, omapifo; dry run first) and has no form that sends one."""
    st = SimpleNamespace(health=SimpleNamespace(notes=(
        Note(Level.WARNING, Role.SECONDARY, "comms", "the primary is gone",
             partner_down=Role.SECONDARY),)))
    cmds = _commands("classroom-1-6", st, "http://127.0.0.1:8067/")
    assert cmds[0] == (
        'curl -X POST -H "Authorization: Bearer $OMAPIFO_TOKEN" -H \'Content-Type: '
        'application/json\' -d \'{"confirm": "classroom-1-6", "reason": "partner really '
        'down"}\' \'http://127.0.0.1:8067/api/v1/pairs/classroom-1-6/peers/secondary/'
        'partner-down?dry_run=1\'')
    assert "omapifo partner-down classroom-1-6 secondary --dry-run" in cmds
    page_app.extensions["omapifo"].poller.poll("p")
    c, _ = login(page_app)
    html = c.get("/pairs/p").data.decode()
    assert html.count("<form") == 1 and 'action="/logout"' in html  # nothing else is sent
