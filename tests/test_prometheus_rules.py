"""deploy/prometheus/omapifo.rules.yml is checked and unit-tested by promtool
(deploy/prometheus/tests/*.yml: every alert fires once and stays silent once).

promtool comes from `make promtool` (into the venv) or PATH. Without it the tests skip
locally, saying so; in CI (CI=true) a missing promtool fails, so they can never be skipped
there unnoticed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "omapifo.rules.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))


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
