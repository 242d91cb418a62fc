"""What the alerting rules need from /metrics (issue 22, "monitoring that cannot fail
silently"): the dead-peer limit the rules compare against, and planned maintenance.

Without the lab: the metrics themselves (a maintenance starts when the audit records one
done, ends when a later poll reads both peers normal). Against the lab: the real
service's /metrics, scraped, fed to the real rules with promtool: during a maintenance
started through the service nothing pages, after 4 hours it does; and on every poll of a
dead primary, the rules are critical exactly when `omapifo check` is, on the same read.
"""
from __future__ import annotations

import dataclasses
import math
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from omapifo import (AuditRecord, Endpoint, FailoverState as S, Level,
                     Outcome, PairState, PeerView, Role, load_config)
from omapifo import _wire as wire
from omapifo.api import create_app
from omapifo.api.auditing import ServiceAudit
from omapifo.api.metrics import Metrics
from omapifo.api.store import Store
from omapifo.clients import servecli
from omapifo.clients.checkcli import default_critical, evaluate
from omapifo.clients.client import Client
from omapifo.clients.nagrange import Range
from omapifo._health import assess
from omapifo._severity import PEER_CRITICAL_AFTER

from ..conftest import fresh_state
from ..recorded import failover_state
from ..test_prometheus_rules import RULES, promtool
from .conftest import OPERATOR, offline_config, service_config, wait_for

PAIR = "classroom-1-6"
T0 = datetime(2026, 11, 25, 3, 0, 7, tzinfo=timezone.utc)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(name, sorted labels) -> value of a /metrics text, parsed as Prometheus does."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def value(m: dict, name: str, **labels: str) -> float | None:
    return m.get((name, tuple(sorted(labels.items()))))


# -- without the lab ------------------------------------------------------------------

def view(role: Role, local: S | None, partner: S = S.NORMAL) -> PeerView:
    ep = Endpoint("198.18.10.253" if role is Role.PRIMARY else "198.18.60.253")
    if local is None:
        return PeerView(role, ep, None, "connection refused", "PeerUnreachable")
    return PeerView(role, ep, wire.failover_status(PAIR, failover_state(
        local, partner, stos=int(T0.timestamp()), hierarchy=0 if role is Role.PRIMARY else 1)))


def read(primary: S | None, secondary: S | None, at: datetime) -> PairState:
    p, s = view(Role.PRIMARY, primary), view(Role.SECONDARY, secondary)
    return PairState(PAIR, p, s, at, assess(p, s, at))


def metrics_text(m: Metrics) -> dict:
    return samples(generate_latest(m.registry).decode())


def test_the_limit_is_always_exported_with_the_configured_value(tmp_path):
    """Before any poll, with no pair answering: OmapifoDown keys on it."""
    assert value(metrics_text(Metrics()), "omapifo_peer_critical_after_seconds") == \
        PEER_CRITICAL_AFTER
    cfg = offline_config(tmp_path / "db.sqlite3")
    cfg = dataclasses.replace(cfg, service=dataclasses.replace(
        cfg.service, comms_interrupted_warning=450))
    app = create_app(cfg, poll=False)
    try:
        m = samples(app.test_client().get("/metrics").get_data(as_text=True))
    finally:
        app.extensions["omapifo"].close()
    assert value(m, "omapifo_peer_critical_after_seconds") == 450


def test_a_maintenance_is_in_progress_from_its_done_record_until_both_are_normal(tmp_path):
    metrics = Metrics()
    audit = ServiceAudit(Store(tmp_path / "db.sqlite3"), metrics)
    metrics.observe(read(S.NORMAL, S.NORMAL, T0), 0.1)
    m = metrics_text(metrics)
    assert [value(m, "omapifo_maintenance_in_progress", pair=PAIR, peer=str(r))
            for r in Role] == [0, 0]

    # a refused and a partial one are no maintenance in progress
    for outcome in (Outcome.REFUSED, Outcome.PARTIAL):
        rid = audit.begin(AuditRecord(T0, "alice", PAIR, "secondary", "maintenance"))
        audit.finish(rid, outcome, "...")
    assert value(metrics_text(metrics), "omapifo_maintenance_in_progress", pair=PAIR,
                 peer="secondary") == 0

    began = datetime.now(timezone.utc)
    rid = audit.begin(AuditRecord(began, "alice", PAIR, "secondary", "maintenance"))
    # a poll that read both normal before the start completed, ending after it
    stale = read(S.NORMAL, S.NORMAL, began)
    audit.finish(rid, Outcome.DONE, "the secondary is shut down ...")
    metrics.observe(stale, 0.1)
    m = metrics_text(metrics)
    assert value(m, "omapifo_maintenance_in_progress", pair=PAIR, peer="secondary") == 1
    assert value(m, "omapifo_maintenance_in_progress", pair=PAIR, peer="primary") == 0
    assert value(m, "omapifo_maintenance_started_timestamp_seconds", pair=PAIR,
                 peer="secondary") == began.timestamp()
    assert value(m, "omapifo_maintenance_started_timestamp_seconds", pair=PAIR,
                 peer="primary") is None

    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    metrics.observe(read(S.PARTNER_DOWN, None, later), 0.1)  # the maintenance itself
    metrics.observe(read(S.PARTNER_DOWN, S.RECOVER_WAIT, later), 0.1)  # on its way back
    assert value(metrics_text(metrics), "omapifo_maintenance_in_progress", pair=PAIR,
                 peer="secondary") == 1
    metrics.observe(read(S.NORMAL, S.NORMAL, later), 0.1)
    m = metrics_text(metrics)
    assert value(m, "omapifo_maintenance_in_progress", pair=PAIR, peer="secondary") == 0
    assert value(m, "omapifo_maintenance_started_timestamp_seconds", pair=PAIR,
                 peer="secondary") is None


# -- the scrape, fed to the real rules --------------------------------------------------

def input_series(text: str, scraped_at: float, points: int) -> list[dict]:
    """The scraped samples as promtool input series, constant over ``points`` minutes, as
    Prometheus would label them (job omapifo), with `up` 1. promtool's clock starts at 0:
    every UNIX timestamp is moved by ``-scraped_at`` (the scrape happened at time 0)."""
    out = [{"series": 'up{job="omapifo",instance="lab:8067"}', "values": f"1x{points}"}]
    for f in text_string_to_metric_families(text):
        for s in f.samples:
            if s.name.endswith("_created") or not math.isfinite(s.value):
                continue
            v = s.value - scraped_at if s.name.endswith("_timestamp_seconds") else s.value
            labels = dict(s.labels, job="omapifo", instance="lab:8067")
            body = ",".join(f'{k}="{x}"' for k, x in sorted(labels.items()))
            out.append({"series": f"{s.name}{{{body}}}", "values": f"{v!r}x{points}"})
    return out


def rules_say(tmp_path: Path, series: list[dict], checks: list[tuple[str, str, list]]) -> str:
    """promtool's verdict ("" when every (eval_time, expr, expected samples) holds)."""
    test = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "promql_expr_test": [{"eval_time": t, "expr": e, "exp_samples": exp}
                             for t, e, exp in checks]}]}
    path = tmp_path / "scrape_test.yml"
    path.write_text(yaml.safe_dump(test))
    proc = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=120)
    return "" if proc.returncode == 0 else proc.stdout + proc.stderr


def firing(alerts: str, **match: str) -> str:
    where = ",".join(['alertstate="firing"', f'alertname=~"{alerts}"'] +
                     [f'{k}="{v}"' for k, v in match.items()])
    return f"count by (alertname) (ALERTS{{{where}}})"


def names(*alerts: str) -> list[dict]:
    return [{"labels": f'{{alertname="{a}"}}', "value": 1} for a in sorted(alerts)]


def scrape(url: str) -> tuple[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        return r.read().decode(), time.time()


@pytest.mark.integration
def test_a_maintenance_through_the_service_does_not_page_until_4_hours(healthy_lab,
                                                                       service_cfg, tmp_path):
    lab = healthy_lab
    url, run, stop = servecli.start(load_config(service_cfg), "127.0.0.1:0")
    servecli.run_in_thread(run)
    try:
        m = samples(scrape(url)[0])
        assert value(m, "omapifo_peer_critical_after_seconds") == PEER_CRITICAL_AFTER
        assert wait_for(lambda: value(samples(scrape(url)[0]), "omapifo_maintenance_in_progress",
                                      pair=PAIR, peer="secondary") == 0, timeout=30)
        before = time.time()
        report = Client(url, OPERATOR).maintenance(PAIR, "secondary", reason="issue 22 test")
        assert report.completed, report.message
        # the real pair: the secondary's dhcpd has stopped, the primary is in partner-down
        assert wait_for(lambda: not lab.running(Role.SECONDARY), timeout=30)
        assert fresh_state(lab).primary.local_state is S.PARTNER_DOWN

        def polled() -> tuple[str, float] | None:  # a poll has seen it, as alerts would
            text, at = scrape(url)
            m = samples(text)
            return (text, at) if value(m, "omapifo_peer_reachable", pair=PAIR,
                                       peer="secondary") == 0 and value(
                m, "omapifo_peer_state", pair=PAIR, peer="primary", state="partner-down") == 1 \
                else None
        got = wait_for(polled, timeout=30)
        assert got, "no poll saw the maintenance"
        text, at = got
        m = samples(text)
        assert value(m, "omapifo_maintenance_in_progress", pair=PAIR, peer="secondary") == 1
        assert value(m, "omapifo_maintenance_in_progress", pair=PAIR, peer="primary") == 0
        began = value(m, "omapifo_maintenance_started_timestamp_seconds", pair=PAIR,
                      peer="secondary")
        assert began is not None and before - 1 <= began <= at, (before, began, at)

        held_back = ("DhcpPartnerDown|OmapifoPollerStale|OmapifoPoolScanStale|"
                     "OmapifoPollsFailing|OmapifoMaintenanceOverdue")
        verdict = rules_say(tmp_path, input_series(text, at, 250), [
            ("30m", firing(held_back), []),
            ("30m", firing(".*", severity="critical"), []),
            ("4h2m", firing("DhcpPartnerDown|OmapifoMaintenanceOverdue|OmapifoPollerStale"),
             names("DhcpPartnerDown", "OmapifoMaintenanceOverdue", "OmapifoPollerStale"))])
        assert verdict == "", verdict

        # the admin starts dhcpd again: the pair comes back and the maintenance is over
        lab.start(Role.SECONDARY, wait=False)
        over = wait_for(lambda: value(samples(scrape(url)[0]),
                                      "omapifo_maintenance_in_progress", pair=PAIR,
                                      peer="secondary") == 0, timeout=120, step=0.5)
        assert over, "still in progress after the pair came back"
        st = fresh_state(lab)
        assert (st.primary.local_state, st.secondary.local_state) == (S.NORMAL, S.NORMAL)
        assert value(samples(scrape(url)[0]), "omapifo_maintenance_started_timestamp_seconds",
                     pair=PAIR, peer="secondary") is None
    finally:
        stop()


@pytest.mark.integration
def test_on_every_read_of_a_dead_peer_the_rules_and_the_check_agree(healthy_lab, tmp_path):
    """The primary is killed; each poll of the service is rated twice, by `omapifo check`
    (its default -c: the configuration's limit, here 8 s so the lab crosses it) and by the
    rules on the /metrics of that same poll: critical in one exactly when in the other,
    before and after the limit."""
    lab = healthy_lab
    limit = 8
    cfg_path = service_config(lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    cfg_path.write_text(cfg_path.read_text().replace(
        "[service]\n", f"[service]\ncomms_interrupted_warning = {limit}\n"))
    config = load_config(cfg_path)
    crit = default_critical(config)
    assert str(crit) == str(limit)
    app = create_app(config, poll=False)
    poller, client = app.extensions["omapifo"].poller, app.test_client()
    critical = ("(count(ALERTS{alertstate=\"firing\",severity=\"critical\"}) > bool 0) "
                "or vector(0)")
    seen: list[tuple[str, float | None, Level]] = []  # secondary's state, its age, check
    noticed = None
    try:
        poller.poll(PAIR)
        lab.stop(Role.PRIMARY)
        stopped = time.monotonic()
        while not seen or seen[-1][0] != str(S.COMMUNICATIONS_INTERRUPTED) or \
                seen[-1][2] is not Level.CRITICAL:
            assert time.monotonic() < stopped + 90, f"never critical by the clock: {seen}"
            if seen:
                time.sleep(0.5)  # about 16 reads up to the limit, not 70
            st = poller.poll(PAIR).state
            text, at = client.get("/metrics").get_data(as_text=True), time.time()
            if st.primary.reachable:
                continue  # not dead yet
            sec = st.secondary
            level = evaluate(st, Range.parse("60"), crit)[0]
            seen.append((str(sec.local_state),
                         (st.read_at - sec.since).total_seconds() if sec.since else None,
                         level))
            if noticed is None and sec.local_state is S.COMMUNICATIONS_INTERRUPTED:
                noticed = time.monotonic() - stopped
            verdict = rules_say(tmp_path, input_series(text, at, 5), [
                ("2m", critical, [{"labels": "{}",
                                   "value": 1 if level is Level.CRITICAL else 0}])])
            assert verdict == "", (seen[-1], verdict)
        print(f"{len(seen)} reads, first {seen[0]}, last {seen[-1]}; the secondary read "
              f"communications-interrupted {noticed:.1f} s after the kill")
        assert any(s[0] == str(S.COMMUNICATIONS_INTERRUPTED) and s[2] is not Level.CRITICAL
                   for s in seen), f"no read before the limit to compare: {seen}"
    finally:
        app.extensions["omapifo"].close()
