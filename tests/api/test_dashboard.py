"""deploy/grafana/omapifo.json and deploy/prometheus/omapifo.rules.yml ask only for metrics
the service really exports, and every one of them is documented in docs/monitoring.md.

The service is built on an offline pair (tests/api/conftest.py) and polled once: /metrics
then has every family's HELP and TYPE, even those whose series appear only once a peer
answers or a pool scan completes; the sample names each family exposes (a counter's
_total, a histogram's _bucket, ...) follow from its type."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from omapifo.api import create_app

from .conftest import offline_config

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "omapifo.json"
RULES = ROOT / "deploy" / "prometheus" / "omapifo.rules.yml"
DOC = ROOT / "docs" / "monitoring.md"
METRIC = re.compile(r"\bomapifo_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "info": ("_info",),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created")}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> set[str]:
    """Every sample name the service's /metrics can carry."""
    d = tmp_path_factory.mktemp("dashboard")
    app = create_app(offline_config(d / "db.sqlite3"), poll=False)
    try:
        app.extensions["omapifo"].poller.poll("p")
        text = app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        app.extensions["omapifo"].close()
    return {f.name + s for f in text_string_to_metric_families(text)
            for s in SUFFIXES[f.type]}


def dashboard_queries(node: Any) -> Iterator[str]:
    """Every PromQL text in the dashboard: panel targets' expr, variables' queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                yield value
            else:
                yield from dashboard_queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_queries(item)


def rule_exprs() -> list[str]:
    return [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def queries() -> list[str]:
    return [q for q in dashboard_queries(json.loads(DASHBOARD.read_text())) if METRIC.search(q)]


def test_the_dashboard_has_queries_for_states_health_runway_and_poll_errors():
    used = {m for q in queries() for m in METRIC.findall(q)}
    assert {"omapifo_peer_local_state", "omapifo_pair_health",
            "omapifo_pool_runway_addresses", "omapifo_poll_errors_total"} <= used


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_metric_used_is_exported(source, exported):
    exprs = queries() if source == "dashboard" else rule_exprs()
    unknown = {(m, q) for q in exprs for m in METRIC.findall(q) if m not in exported}
    assert not unknown, f"not in /metrics: {sorted(unknown)}"


def test_every_metric_used_is_documented():
    doc = DOC.read_text()
    documented = set(re.findall(r"^\| `(omapifo_[a-z0-9_]+)`", doc, re.M))
    used = {m for q in queries() + rule_exprs() for m in METRIC.findall(q)}
    # a histogram's _bucket is documented under its family's name
    missing = {m for m in used if re.sub(r"_bucket$", "", m) not in documented}
    assert not missing, f"used by the dashboard or the rules, not in docs/monitoring.md: " \
                        f"{sorted(missing)}"
