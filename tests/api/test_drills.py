"""Drills the service schedules (``[[service.drills]]``, api/drills.py): the schedule, a
drill run as the schedule runs it on the real pair, its metrics and its audit record."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from flask import Flask

from omapifo import ConfigError, FailoverState as S, load_config
from omapifo._config import parse_config
from omapifo.api import create_app
from omapifo._drill import STEPS
from omapifo.lab import Lab

from ..conftest import fresh_state, restore
from .conftest import service_config
from .test_metrics_alerts import samples, value

PAIR = "classroom-1-6"


@pytest.fixture
def app(probe_lab: Lab, tmp_path: Path) -> Iterator[Flask]:
    """The service with a drill of the secondary whose start command fails: the drill
    stops after the survivor step and leaves the pair as its report says (the lab is
    restored after); a drill that passes runs in tests/clients/test_drillcli.py."""
    restore(probe_lab)
    cfg = service_config(probe_lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    text = cfg.read_text().replace("[[service.tokens]]", (
        f'[[service.drills]]\npair = "{PAIR}"\npeer = "secondary"\nschedule = "0 4 1 * *"\n'
        'start_command = "false"\n\n[[service.tokens]]'), 1)
    cfg.write_text(text)
    app = create_app(load_config(cfg), poll=True)
    yield app
    app.extensions["omapifo"].close()
    restore(probe_lab)


@pytest.mark.integration
def test_a_scheduled_drill_runs_on_the_real_pair_and_its_result_is_a_metric(app, probe_lab):
    drills = app.extensions["omapifo"].drills
    [(config, next_run)] = drills.next_runs()
    when = datetime.fromisoformat(next_run)
    assert (when.day, when.hour, when.minute, when.tzinfo) == (1, 4, 0, timezone.utc)
    assert when > datetime.now(timezone.utc)
    report = drills.run(0)  # as the schedule runs it
    assert not report.completed
    assert [s.what for s in report.steps] == [*STEPS[:3], "error"]
    assert "the start command exited 1" in report.message
    assert f"omapifo maintenance end {PAIR} secondary --wait" in report.message
    # left as it is: the secondary stopped, the primary serving alone
    assert not probe_lab.running("secondary")
    assert fresh_state(probe_lab).primary.local_state is S.PARTNER_DOWN
    m = samples(app.test_client().get("/metrics").get_data(as_text=True))
    assert value(m, "omapifo_drill_last_success", pair=PAIR, peer="secondary") == 0
    assert value(m, "omapifo_drill_last_timestamp_seconds", pair=PAIR,
                 peer="secondary") == report.ended.timestamp()
    # the maintenance this service started holds back the alerts it explains
    assert value(m, "omapifo_maintenance_in_progress", pair=PAIR, peer="secondary") == 1
    rows, _ = app.extensions["omapifo"].store.audit(limit=50)
    mine = {(r.action, r.outcome, r.actor) for r in rows}
    assert ("drill", "failed", "service:drill") in mine, mine
    assert ("maintenance", "done", "service:drill") in mine, mine


BASE = {"pairs": {"p": {"primary": "198.18.10.253", "secondary": "198.18.60.253",
                        "key_name": "k", "key": "c2VjcmV0", "probe_giaddr": "198.18.9.1"},
                  "q": {"primary": "198.18.10.253", "secondary": "198.18.60.253",
                        "key_name": "k", "key": "c2VjcmV0", "failover_peer": "other"}}}


@pytest.mark.parametrize("drill,words", [
    ({"pair": "x", "peer": "primary", "schedule": "0 4 1 * *", "start_command": "s"},
     "service.drills.0.pair: no pair named 'x'"),
    ({"pair": "q", "peer": "primary", "schedule": "0 4 1 * *", "start_command": "s"},
     "pair 'q' has no probe_giaddr"),
    ({"pair": "p", "peer": "primary", "schedule": "monthly", "start_command": "s"},
     "five crontab fields in UTC"),
    ({"pair": "p", "peer": "both", "schedule": "0 4 1 * *", "start_command": "s"},
     "peer"),
    ({"pair": "p", "peer": "primary", "schedule": "0 4 1 * *"}, "start_command"),
    ({"pair": "p", "peer": "primary", "schedule": "0 4 1 * *", "start_command": "  "},
     "start_command: names no command"),
    ({"pair": "p", "peer": "primary", "schedule": "0 4 1 * *",
      "start_command": "ssh 'dhcp2 start"}, "cannot be split like a shell line"),
])
def test_a_drill_that_cannot_run_as_configured_is_a_config_error(drill, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        parse_config({**BASE, "service": {"drills": [drill]}})


def test_a_schedule_of_the_right_shape_that_cron_refuses_names_it(tmp_path):
    config = parse_config({**BASE, "service": {"database": str(tmp_path / "db"), "drills": [
        {"pair": "p", "peer": "primary", "schedule": "0 99 1 * *", "start_command": "s"}]}})
    with pytest.raises(ConfigError, match=r"service.drills.0.schedule '0 99 1 \* \*'"):
        create_app(config, poll=False)
