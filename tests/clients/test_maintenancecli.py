"""`omapifo maintenance start|end` against the real pair, directly and through --api.
(The full start-and-back runs in tests/test_maintenance.py and in docs/runbook.md.)"""
from __future__ import annotations

import json

import pytest

from omapifo import FailoverState as S, load_config
from omapifo.clients import remote, servecli
from omapifo.clients.client import ApiError

from ..api.conftest import OPERATOR, READER, service_config
from ..conftest import fresh_state
from ..test_guards import state
from .test_cli import PAIR

pytestmark = pytest.mark.integration


def test_start_asks_to_confirm_and_a_dry_run_changes_nothing(healthy_lab, run):
    code, _, err = run("maintenance", "start", PAIR, "secondary", "--dry-run")
    assert code == 2 and "needs confirmation" in err  # stdin is not a terminal
    code, out, _ = run("maintenance", "start", PAIR, "secondary", "--dry-run", "--yes",
                       "--reason", "kernel")
    assert code == 0 and "check: dry-run" in out and "would shut down the secondary" in out
    assert healthy_lab.running("secondary")
    st = fresh_state(healthy_lab)
    assert (str(st.primary.local_state), str(st.secondary.local_state)) == ("normal", "normal")
    [record] = run.records()
    assert (record.action, record.outcome, record.reason) == ("maintenance", "dry-run",
                                                              "kernel")


@pytest.mark.direct_only  # with --api and without, itself
def test_end_directly_and_through_the_service(healthy_lab, run, tmp_path,
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


def test_end_wait_through_a_busy_service_asks_again_after_a_503(monkeypatch):
    """A fresh read finding another under way is a 503 (the service never queues):
    `maintenance end --wait --api` waits and asks again instead of giving up."""
    answers = [ApiError("busy", status=503, problem={}), ApiError("busy", status=503,
                                                                   problem={}),
               state(S.NORMAL, S.NORMAL)]

    class Busy:
        def pair(self, name, fresh=False):
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
    monkeypatch.setattr(remote, "FRESH_RETRY_WAIT", 0.0)
    seen = list(remote.RemotePair(Busy(), "p").follow_recovery(timeout=5))  # type: ignore[arg-type]
    assert [o.states for o in seen] == [("normal", "normal")] and answers == []
