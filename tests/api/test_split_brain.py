"""A real split brain on the lab pair, and how every surface reports it (issue 23, item 5).

The two servers are cut off from each other (lab.partition: blackhole rules in the router
namespace, both stay reachable from here), both reach communications-interrupted, and both
are moved to partner-down over raw OMAPI (OmapiPeer, not the guarded library, which would
refuse the second). Then: ``omapifo check`` exits 2 (CRITICAL) and ``omapifo status``
rates the pair critical; the real service's /metrics, scraped and handed to promtool with
the shipped rules, fires DhcpSplitBrain (and a scrape of the normal pair does not); the
status page in Chromium shows it; and every action (partner-down, shutdown, release,
maintenance) is refused by the service and by the library, with nothing sent (the
library's connections record every update; dhcpd's logs and fresh reads agree).

Measured on the way back (dhcpd 4.4.3, lab mclt 15): once the link is mended the two
servers resolve it themselves within seconds (0.5 s and 5.7 s measured; each logs partner-down ->
potential-conflict -> conflict-done/normal); no restart is needed.
"""
from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from omapifo import (FailoverState as S, Level, LeaseState, OmapiPeer, OperationRefused,
                     PartnerDownRefused, ReleaseRefused, Role, load_config)
from omapifo.clients import servecli
from omapifo._omapi import u32

from ..clients.runner import cli_mode, run, service_url  # noqa: F401 - the command line's fixtures
from ..conftest import fresh_lease, fresh_state, fresh_state_when, sent
from ..test_prometheus_rules import RULES, promtool
from .conftest import OPERATOR, POLL, READER, auth, service_config, wait_for
from .test_status_page_browser import browser, shot, text_of, wait_until  # noqa: F401

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"
CI = S.COMMUNICATIONS_INTERRUPTED


def both_partner_down_over_raw_omapi(lab) -> None:
    """What no guard of omapifo allows: each peer told partner-down, straight over OMAPI."""
    cfg = lab.pair_config()
    for role, ep in ((Role.PRIMARY, cfg.primary), (Role.SECONDARY, cfg.secondary)):
        peer = OmapiPeer(ep.host, ep.port, cfg.key, label=str(role), timeout=cfg.timeout)
        try:
            peer.update("failover-state", [("name", cfg.failover_peer.encode())],
                        [("local-state", u32(S.PARTNER_DOWN))], operation="test split brain")
        finally:
            peer.close()


def _series(text: str) -> list[dict[str, str]]:
    """promtool input series from a /metrics scrape: every finite sample, held for 5 min."""
    def quote(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not math.isfinite(s.value):
                continue
            labels = ",".join(f'{k}="{quote(v)}"' for k, v in sorted(s.labels.items()))
            out.append({"series": f"{s.name}{{{labels}}}", "values": f"{s.value!r}x20"})
    return out


def split_brain_alerts(tmp_path: Path, name: str, scrape: str, fires: bool) -> None:
    """promtool test rules on the shipped rules with the scrape as input: DhcpSplitBrain
    fires for the pair (``fires``) or stays silent."""
    expected = [{"exp_labels": {"severity": "critical", "pair": PAIR},
                 "exp_annotations": {
                     "summary": f"both servers of {PAIR} are in partner-down",
                     "description": f"Both servers of {PAIR} believe the other is dead and "
                                    "both hand out every address: clients can get the same "
                                    "address twice. Stop one server now.",
                     "runbook_url": "docs/runbook.md#dhcpsplitbrain"}}]
    doc = {"rule_files": [str(RULES)], "evaluation_interval": "15s",
           "tests": [{"interval": "15s", "input_series": _series(scrape),
                      "alert_rule_test": [{"eval_time": "1m", "alertname": "DhcpSplitBrain",
                                           "exp_alerts": expected if fires else []}]}]}
    path = tmp_path / f"{name}.test.yml"
    path.write_text(yaml.safe_dump(doc))
    proc = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"promtool on the {name} scrape:\n{proc.stdout}{proc.stderr}"


def level_of(driver, css: str) -> str:
    """The pair section's data-level, or "" between two swaps of the fragment."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element("css selector", css).get_attribute("data-level"))
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def refused_over_rest(url: str, ip: str) -> list[tuple[str, int, str]]:
    """Every action on either peer, and the release, asked of the service; (what, status,
    detail)."""
    paths = [f"/api/v1/pairs/{PAIR}/peers/{role}/{action}"
             for action in ("partner-down", "shutdown", "maintenance") for role in Role]
    paths.append(f"/api/v1/pairs/{PAIR}/leases/{ip}/release")
    answers = []
    for path in paths:
        r = requests.post(url + path, json={"confirm": PAIR}, headers=auth(OPERATOR),
                          timeout=60)
        answers.append((path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1],
                        r.status_code, r.json().get("detail", "")))
    return answers


def test_a_real_split_brain_is_critical_everywhere_and_every_action_is_refused(
        healthy_lab, recording_pair, run, browser, log_mark, tmp_path):  # noqa: F811
    lab, driver = healthy_lab, browser
    ip = lab.client(2, mac="02:00:00:5b:00:02")  # an active lease, for the release
    cfg = service_config(lab.config_path, tmp_path, tmp_path / "omapifo.sqlite3")
    url, serve, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    thread = servecli.run_in_thread(serve)
    api = requests.Session()
    api.headers.update(auth(READER))

    def service_level() -> str:
        return api.get(f"{url}/api/v1/pairs/{PAIR}", timeout=10).json()["health"]["level"]
    try:
        assert wait_for(lambda: service_level() == "ok", POLL + 30), service_level()
        split_brain_alerts(tmp_path, "normal", api.get(f"{url}/metrics").text, fires=False)
        driver.get(url + "/")
        driver.find_element("id", "token").send_keys(READER)
        driver.find_element("css selector", "button[type=submit]").click()
        assert wait_until(lambda: driver.current_url == url + "/", 30), driver.current_url
        section = f'[data-pair="{PAIR}"]'
        assert wait_until(lambda: level_of(driver, section) == "ok", 30), \
            level_of(driver, section)

        try:
            lab.partition()
            lab.wait_states(CI, CI, timeout=lab.settings.max_response_delay + 45)
            both_partner_down_over_raw_omapi(lab)
            made = time.monotonic()
            st = fresh_state(lab)
            assert (st.primary.local_state, st.secondary.local_state) == (S.PARTNER_DOWN,
                                                                          S.PARTNER_DOWN)
            assert st.split_brain
            # each dhcpd says so itself
            for role in Role:
                assert "I move from communications-interrupted to partner-down" in \
                    log_mark.since(role), role

            # the command line: check is CRITICAL (2); status rates it critical and exits 1,
            # its code for "not healthy" (2 is a usage error there: clients/exitcodes.py)
            code, out, _ = run("check", PAIR)
            assert code == 2 and out.startswith("OMAPIFO CRITICAL"), out
            assert "split brain" in out, out
            code, out, _ = run("status", PAIR)
            assert code == 1 and f"{PAIR}: critical" in out and "split brain" in out, out
            assert st.health.level is Level.CRITICAL  # the library's own rating

            # the service: its poller sees it, /metrics makes promtool fire the alert
            assert wait_for(lambda: service_level() == "critical", POLL + 30), service_level()
            print(f"service critical {time.monotonic() - made:.2f} s after the split brain")
            split_brain_alerts(tmp_path, "split", api.get(f"{url}/metrics").text, fires=True)

            # the status page, without a reload
            assert wait_until(lambda: level_of(driver, section) == "critical", POLL + 30), \
                level_of(driver, section)
            print(f"page critical {time.monotonic() - made:.2f} s after the split brain")
            peer = f'{section} [data-peer="%s"] [data-field="local_state"]'
            assert all(text_of(driver, peer % r) == "partner-down" for r in Role)
            page = text_of(driver, section)
            assert "split brain" in page and "Stop one server" in page, page
            shot(driver, "status-pair-split-brain.png")

            # every action refused, by the service and by the library, nothing sent. The
            # lease: the peer that served it let it expire at its end (one MCLT, 15 s); its
            # partner, cut off, keeps it active (measured), so a release would be tried
            lease_before = fresh_lease(lab, ip)
            assert lease_before.state is LeaseState.ACTIVE, lease_before
            answers = refused_over_rest(url, ip)
            assert [(what, status) for what, status, _ in answers] == [
                (f"{r}/{a}", 409) for a in ("partner-down", "shutdown", "maintenance")
                for r in Role] + [(f"{ip}/release", 409)], answers
            pair = recording_pair
            for role in Role:
                with pytest.raises(PartnerDownRefused, match="SPLIT BRAIN|split brain"):
                    pair.partner_down(role)
                with pytest.raises(PartnerDownRefused, match="SPLIT BRAIN|split brain"):
                    pair.partner_down(role, force=True, reason="force never overrides it")
                with pytest.raises(OperationRefused, match="partner-down, not normal"):
                    pair.shutdown(role)
                with pytest.raises(OperationRefused, match="both are normal"):
                    pair.maintenance(role)
            with pytest.raises(ReleaseRefused, match="SPLIT BRAIN"):
                pair.release(ip)
            assert sent(pair) == []
            entries = requests.get(f"{url}/api/v1/audit", headers=auth(OPERATOR),
                                   timeout=10).json()["entries"]
            assert {e["outcome"] for e in entries} == {"refused"}, entries
            assert len(entries) == len(answers)
            # dhcpd, read again: still both partner-down, the lease still active, and no
            # dhcpd logged a move since the split brain was made
            st = fresh_state(lab)
            assert st.split_brain and lab.running(Role.PRIMARY) and lab.running(Role.SECONDARY)
            lease_after = fresh_lease(lab, ip)
            assert [(r, lease_after.peer(r).state) for r in Role] == [
                (r, lease_before.peer(r).state) for r in Role], lease_after
            moves = [line for line in log_mark.both().splitlines() if "I move from" in line]
            assert len(moves) == 4, moves  # normal->CI and CI->partner-down, on each
        finally:
            lab.mend()
        mended = time.monotonic()
        back = fresh_state_when(lab, lambda s: (s.primary.local_state, s.secondary.local_state)
                                == (S.NORMAL, S.NORMAL), timeout=120,
                                what="both normal after the mend")
        print(f"mended split brain resolved by dhcpd in {time.monotonic() - mended:.2f} s: "
              + "; ".join(line.split(": ", 1)[-1] for line in log_mark.both().splitlines()
                          if "move" in line and "conflict" in line))
        assert back.health.level is Level.OK and not back.split_brain
        assert wait_for(lambda: service_level() == "ok", POLL + 30), service_level()
    finally:
        lab.mend()
        stop()
        thread.join(10)
