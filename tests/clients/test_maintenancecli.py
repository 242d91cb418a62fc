"""`omapifo maintenance start|end` against the real pair, directly and through --api.
(The full start-and-back runs in tests/test_maintenance.py and in docs/runbook.md.)"""
from __future__ import annotations

import json

import pytest

from omapifo import JsonLinesAudit, load_config
from omapifo.clients import servecli

from ..api.conftest import OPERATOR, READER, service_config
from ..conftest import fresh_state
from .test_cli import PAIR, run  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def test_start_asks_to_confirm_and_a_dry_run_changes_nothing(healthy_lab, run):  # noqa: F811
    code, _, err = run("maintenance", "start", PAIR, "secondary", "--dry-run")
    assert code == 2 and "needs confirmation" in err  # stdin is not a terminal
    code, out, _ = run("maintenance", "start", PAIR, "secondary", "--dry-run", "--yes",
                       "--reason", "kernel")
    assert code == 0 and "check: dry-run" in out and "would shut down the secondary" in out
    assert healthy_lab.running("secondary")
    st = fresh_state(healthy_lab)
    assert (str(st.primary.local_state), str(st.secondary.local_state)) == ("normal", "normal")
    [record] = JsonLinesAudit(run.audit).records()
    assert (record.action, str(record.outcome), record.reason) == ("maintenance", "dry-run",
                                                                   "kernel")


def test_end_directly_and_through_the_service(healthy_lab, run, tmp_path,  # noqa: F811
                                              monkeypatch):
    code, out, _ = run("maintenance", "end", PAIR, "secondary")
    assert code == 0 and "primary normal, secondary normal" in out
    cfg = service_config(healthy_lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    url, serve, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(serve)
    try:
        monkeypatch.setenv("OMAPIFO_TOKEN", READER)
        code, out, _ = run("maintenance", "end", PAIR, "secondary", "--api", url)
        assert code == 0 and "primary normal, secondary normal" in out
        code, out, _ = run("maintenance", "end", PAIR, "secondary", "--wait", "--json",
                           "--api", url)
        lines = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and lines[-1]["normal"] is True
        code, _, err = run("maintenance", "start", PAIR, "secondary", "--yes", "--api", url)
        assert code == 2 and "operator" in err  # a reader token may not
        monkeypatch.setenv("OMAPIFO_TOKEN", OPERATOR)
        code, out, _ = run("maintenance", "start", PAIR, "secondary", "--yes", "--dry-run",
                           "--json", "--api", url)
        assert code == 0 and json.loads(out)["dry_run"] is True
    finally:
        stop()
    assert healthy_lab.running("secondary")
