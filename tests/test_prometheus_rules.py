"""deploy/prometheus/omapifo.rules.yml is checked and unit-tested by promtool
(deploy/prometheus/tests/*.yml: every alert fires once and stays silent once). Issue 22:
every alert has a summary, a description and a runbook_url to its own section of
docs/runbook.md, and the dead-peer scenario of the rules uses the boundary `omapifo check`
is tested at (tests/clients/test_checkcli.py).

promtool comes from `make promtool` (into the venv) or PATH. Without it the tests skip
locally, saying so; in CI (CI=true) a missing promtool fails, so they can never be skipped
there unnoticed."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from omapifo._severity import PEER_CRITICAL_AFTER

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "omapifo.rules.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
RUNBOOK = ROOT / "docs" / "runbook.md"
FAIL_LOUD = ROOT / "deploy" / "prometheus" / "tests" / "omapifo_fail_loud_test.yml"


def promtool() -> str:
    venv = Path(sys.executable).parent / "promtool"
    found = str(venv) if venv.exists() else shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail("promtool is missing and CI is set: run `make promtool` (Debian's "
                    "prometheus package)")
    pytest.skip("promtool is not installed: `make promtool` fetches it from Debian's "
                "prometheus package")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_the_rules_are_valid():
    proc = run("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_there_are_rule_tests_for_every_alert():
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"]
              for r in g["rules"] if "alert" in r}
    fired: set[str] = set()
    silent: set[str] = set()
    for f in RULE_TESTS:
        for case in yaml.safe_load(f.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                (fired if t.get("exp_alerts") else silent).add(t["alertname"])
    assert alerts - fired == set(), "alerts no test makes fire"
    assert alerts - silent == set(), "alerts no test shows silent"


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file):
    proc = run("test", "rules", str(test_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_dashboards_queries_are_valid_promql(tmp_path):
    """promtool parses rules offline: each dashboard query becomes one (Grafana's
    variables replaced by what they stand for)."""
    from .api.test_dashboard import queries

    exprs = [q.replace("$pair", ".*") for q in queries()
             if not q.startswith("label_values(")]  # Grafana's function, not PromQL
    groups = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(groups))
    proc = run("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
            if "alert" in r]


def slug(heading: str) -> str:
    """The anchor GitHub (and mkdocs' default) gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def alert_sections() -> list[str]:
    """The ### headings of the runbook's last part, "## Alerts"."""
    text = RUNBOOK.read_text()
    parts = re.split(r"^## ", text, flags=re.M)
    assert parts[-1].startswith("Alerts\n"), "the runbook's last part is not \"## Alerts\""
    return re.findall(r"^### (.+)$", parts[-1], re.M)


def test_every_alert_says_what_it_means_and_where_its_runbook_is():
    for rule in alert_rules():
        name, ann = rule["alert"], rule.get("annotations", {})
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), name
        for key in ("summary", "description", "runbook_url"):
            assert str(ann.get(key, "")).strip(), f"{name} has no {key}"
        assert ann["description"] != ann["summary"], name


def test_every_runbook_url_is_its_alerts_section_of_the_runbook():
    sections = alert_sections()
    anchors = {slug(h) for h in sections}
    for rule in alert_rules():
        name, url = rule["alert"], rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert (ROOT / path).resolve() == RUNBOOK, f"{name}: {url} is not docs/runbook.md"
        assert anchor == slug(name), f"{name}: {url} is not its own section"
        assert anchor in anchors, f"{name}: docs/runbook.md has no \"### {name}\" under Alerts"
    # and no section for an alert that is not there (renamed or removed)
    assert sorted(sections) == sorted(r["alert"] for r in alert_rules())


def test_the_anchor_check_can_fail():
    assert slug("OmapifoDown") == "omapifodown"
    assert slug("7. Planned maintenance in one step") == "7-planned-maintenance-in-one-step"
    assert "dhcpnosuchalert" not in {slug(h) for h in alert_sections()}


def expand(values: str) -> list[float | None]:
    """promtool's series notation, as far as these tests use it: ``a``, ``axn``, ``a+bxn``,
    ``_``, ``stale`` (both None)."""
    out: list[float | None] = []
    for item in values.split():
        m = re.fullmatch(r"(_|stale|-?[\d.]+)(?:([+-][\d.]+)?x(\d+))?", item)
        assert m, item
        start = None if m[1] in ("_", "stale") else float(m[1])
        step, times = float(m[2] or 0), int(m[3]) if m[3] else 0
        out.extend(None if start is None else start + i * step for i in range(times + 1))
    return out


def test_the_dead_peer_scenario_is_the_checks_boundary():
    """The rules' test and the check's test are at the same moment: the exported limit is
    PEER_CRITICAL_AFTER, the seconds are that (silent) and one more (critical), and the
    rule compares against the exported number, never one of its own."""
    case = next(c for c in yaml.safe_load(FAIL_LOUD.read_text())["tests"]
                if c["name"].startswith("a dead peer goes critical"))
    series = {i["series"].split("{")[0]: expand(i["values"]) for i in case["input_series"]}
    assert set(series["omapifo_peer_critical_after_seconds"]) == {PEER_CRITICAL_AFTER}
    seconds = series["omapifo_peer_state_seconds"]
    at = {t["eval_time"]: bool(t["exp_alerts"]) for t in case["alert_rule_test"]
          if t["alertname"] == "DhcpCommunicationsInterrupted"}
    assert {seconds[int(t.rstrip("m"))]: fired for t, fired in at.items()} == {
        PEER_CRITICAL_AFTER: False, PEER_CRITICAL_AFTER + 1: True}
    expr = next(r for r in alert_rules() if r["alert"] == "DhcpCommunicationsInterrupted")["expr"]
    assert "omapifo_peer_critical_after_seconds" in expr and not re.search(r"\b300\b", expr)
