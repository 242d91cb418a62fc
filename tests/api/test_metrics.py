"""Metrics tell no stale truth (issue 12), against the lab: a stopped peer's state series
go away while it is unreachable and come back when it answers again."""
from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from omapifo import Role, load_config
from omapifo.api import create_app

from .conftest import POLL

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"
STATE_SERIES = ("omapifo_peer_local_state", "omapifo_peer_partner_state",
                "omapifo_peer_state_seconds", "omapifo_peer_state")


def scrape(client) -> dict[str, dict[str, list]]:
    """family -> peer -> its samples (the /metrics text, parsed as Prometheus would)."""
    text = client.get("/metrics").get_data(as_text=True)
    out: dict[str, dict[str, list]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("pair") == PAIR and "peer" in s.labels:
                out.setdefault(s.name, {}).setdefault(s.labels["peer"], []).append(s)
    return out


def test_a_stopped_peer_has_no_state_series_until_it_answers_again(healthy_lab, service_cfg):
    lab = healthy_lab
    app = create_app(load_config(service_cfg), poll=False)
    poller, c = app.extensions["omapifo"].poller, app.test_client()
    try:
        poller.poll(PAIR)
        m = scrape(c)
        for name in STATE_SERIES:
            assert set(m[name]) == {"primary", "secondary"}, name
        lab.stop(Role.SECONDARY)
        assert not poller.poll(PAIR).state.secondary.reachable
        m = scrape(c)
        for name in STATE_SERIES:  # the primary's stay, the secondary's are gone
            assert set(m[name]) == {"primary"}, (name, m[name])
        assert m["omapifo_peer_reachable"]["secondary"][0].value == 0
        assert m["omapifo_poll_errors_total"]["secondary"][0].value == 1
        assert "primary" not in m.get("omapifo_poll_errors_total", {})

        lab.start(Role.SECONDARY, wait=False)
        deadline = time.monotonic() + 30
        while not poller.poll(PAIR).state.secondary.reachable:
            assert time.monotonic() < deadline, "the secondary never answered again"
            time.sleep(POLL)
        m = scrape(c)
        for name in STATE_SERIES:
            assert set(m[name]) == {"primary", "secondary"}, name
        assert m["omapifo_peer_reachable"]["secondary"][0].value == 1
    finally:
        app.extensions["omapifo"].close()


def test_the_labs_pool_addresses_sum_to_the_pool_sizes(healthy_lab, service_cfg):
    """Issue 14, on the real pair: summed over states, omapifo_pool_addresses is each
    pool's omapifo_pool_size_addresses (a state="total" series used to double every sum)."""
    app = create_app(load_config(service_cfg), poll=False)
    try:
        assert app.extensions["omapifo"].poller.scan(PAIR).complete
        text = app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        app.extensions["omapifo"].close()
    size: dict[str, float] = {}
    summed: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "omapifo_pool_size_addresses":
                size[s.labels["pool"]] = s.value
            elif s.name == "omapifo_pool_addresses":
                assert s.labels["state"] != "total"
                summed[s.labels["pool"]] = summed.get(s.labels["pool"], 0) + s.value
    assert size and all(size.values()) and summed == size
