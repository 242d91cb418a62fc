"""DHCP probes as monitoring (issue 26, part 2), against the real pair: the service's probe
rounds feed /metrics, the status page and `omapifo check --probe`; the alert rules for a
NORMAL server that does not answer and for a server answering while its partner is in
partner-down are run by promtool on what the service really exported."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask

from omapifo import FailoverPair, FailoverState as S, JsonLinesAudit, Role, load_config
from omapifo.api import create_app
from omapifo.clients import cli
from omapifo.lab import Lab

from ..conftest import fresh_state, restore
from .conftest import OPERATOR, READER, auth, service_config
from .test_metrics_alerts import firing, input_series, names, rules_say, samples, value
from .test_page import login

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"


@pytest.fixture
def lab(probe_lab: Lab) -> Iterator[Lab]:
    restore(probe_lab)
    yield probe_lab
    probe_lab.unfilter()
    probe_lab.mend()
    restore(probe_lab)


@pytest.fixture
def app(lab: Lab, tmp_path: Path) -> Iterator[Flask]:
    """The service on the probe lab; the tests poll and probe it by hand (no scheduler)."""
    cfg = service_config(lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    app = create_app(load_config(cfg), poll=False)
    yield app
    app.extensions["omapifo"].close()


def observe(app: Flask) -> tuple[dict, str, float]:
    """One poll and one probe round, as the scheduler runs them; (samples, text, time)."""
    svc = app.extensions["omapifo"]
    svc.poller.poll(PAIR)
    found = svc.poller.probe(PAIR)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return samples(text), text, min(r.at for r in found.results).timestamp()


def serving_on_page(app: Flask) -> dict[str, str]:
    c, _ = login(app)
    html = c.get(f"/pairs/{PAIR}").get_data(as_text=True)
    return dict(re.findall(r'data-peer="(\w+)".*?data-field="serving"[^>]*>DHCP: <strong>'
                           r"([\w ]+)</strong>", html, re.S))


def test_both_serving_then_the_primary_stopped_metrics_page_api_and_check_say_so(lab, app,
                                                                                capsys):
    m, _, _ = observe(app)
    for role in Role:
        assert value(m, "omapifo_probe_success", pair=PAIR, peer=str(role)) == 1
        assert 0 < value(m, "omapifo_probe_latency_seconds", pair=PAIR, peer=str(role)) < 3
    assert serving_on_page(app) == {"primary": "serving", "secondary": "serving"}
    code = cli.main(["-c", str(lab.config_path), "check", PAIR, "--probe"])
    line = capsys.readouterr().out
    assert code == 0 and "primary serving, secondary serving" in line, line
    c = app.test_client()
    assert c.get(f"/api/v1/pairs/{PAIR}/probe").status_code == 401  # a token, as every read
    body = c.get(f"/api/v1/pairs/{PAIR}/probe", headers=auth(READER)).get_json()
    assert [r["answered"] for r in body["results"]] == [True, True]
    # a reader may see the last round, not send one
    assert c.post(f"/api/v1/pairs/{PAIR}/probe", json={},
                  headers=auth(READER)).status_code == 403

    lab.stop(Role.PRIMARY)
    m, _, _ = observe(app)
    found = app.extensions["omapifo"].poller.last_probe(PAIR)
    primary = found.result(Role.PRIMARY)
    assert found.serving == [Role.SECONDARY], found
    assert not primary.answered and primary.error is None and primary.offered is None
    assert "the primary did not answer a DHCP probe" in primary.describe()
    assert value(m, "omapifo_probe_success", pair=PAIR, peer="primary") == 0
    assert value(m, "omapifo_probe_latency_seconds", pair=PAIR, peer="primary") is None
    assert value(m, "omapifo_probe_success", pair=PAIR, peer="secondary") == 1
    assert serving_on_page(app) == {"primary": "not answering", "secondary": "serving"}
    posted = c.post(f"/api/v1/pairs/{PAIR}/probe", json={"peers": ["primary"]},
                    headers=auth(OPERATOR)).get_json()
    assert [(r["peer"], r["answered"]) for r in posted["results"]] == [("primary", False)]
    # omapifo check --probe: the stopped server is rated by its partner's clock, as
    # without --probe; the probe adds what a client sees
    lab.wait_states(None, S.COMMUNICATIONS_INTERRUPTED, timeout=60)
    code = cli.main(["-c", str(lab.config_path), "check", PAIR, "--probe"])
    line = capsys.readouterr().out
    assert "primary not answering DHCP, secondary serving" in line, line
    assert "primary_probe_seconds=U" in line
    assert re.search(r"secondary_probe_seconds=\d\.\d{3}s", line), line


def test_a_normal_server_that_drops_dhcp_pages_after_3_minutes(lab, app, tmp_path):
    """nftables on the router drops DHCP to the primary and lets OMAPI through: it reads
    normal, and does not answer. The rules say so on the scraped series. (A drop in the
    primary's own input chain does not do it: dhcpd reads DHCP with a packet socket,
    ahead of netfilter, and answered through such a rule, measured.)"""
    _, text, at = observe(app)
    assert rules_say(tmp_path, input_series(text, at, 10), [
        ("5m", firing("DhcpServerNotAnswering"), [])]) == ""
    lab.filter("router", f"ip daddr {lab.layout.server_addr(Role.PRIMARY)} udp dport 67 drop")
    m, text, at = observe(app)
    assert value(m, "omapifo_probe_success", pair=PAIR, peer="primary") == 0
    assert value(m, "omapifo_peer_state", pair=PAIR, peer="primary", state="normal") == 1
    verdict = rules_say(tmp_path, input_series(text, at, 10), [
        ("2m", firing("DhcpServerNotAnswering"), []),
        ("5m", firing("DhcpServerNotAnswering", peer="primary"),
         names("DhcpServerNotAnswering"))])
    assert verdict == "", verdict


def test_a_server_answering_while_its_partner_is_in_partner_down_pages(lab, app, tmp_path):
    """The failover draft's MUST NOT, made real: the peers cut off from each other, OMAPI
    to the primary rejected, and the secondary forced into partner-down by an omapifo
    that has no probe address (its guard cannot know the primary serves). The service,
    which probes, exports the primary answering and the secondary in partner-down."""
    lab.partition()
    lab.filter(Role.PRIMARY, "tcp dport 7911 reject")
    lab.wait_states(None, S.COMMUNICATIONS_INTERRUPTED, timeout=60)
    blind = replace(lab.pair_config(), probe_giaddr=None)
    with FailoverPair(blind, audit=JsonLinesAudit(tmp_path / "audit.log")) as pair:
        pair.partner_down("secondary", force=True, reason="test: the draft's MUST NOT")
    assert fresh_state(lab).secondary.local_state is S.PARTNER_DOWN
    m, text, at = observe(app)
    assert value(m, "omapifo_probe_success", pair=PAIR, peer="primary") == 1
    assert value(m, "omapifo_peer_state", pair=PAIR, peer="secondary",
                 state="partner-down") == 1
    verdict = rules_say(tmp_path, input_series(text, at, 10), [
        ("1m", firing("DhcpServingWhilePartnerDown"), []),
        ("4m", firing("DhcpServingWhilePartnerDown", peer="primary"),
         names("DhcpServingWhilePartnerDown"))])
    assert verdict == "", verdict
