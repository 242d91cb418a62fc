"""deploy/systemd/omapifo.service, checked by systemd itself, and the pieces of
`omapifo serve` it relies on that need no lab: sd_notify, the database's default under
systemd, the log formats. The service under the unit's conditions, against the lab:
tests/api/test_systemd.py."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from omapifo.api import logs
from omapifo.api.app import database_path
from omapifo.clients import servecli
from omapifo._config import ServiceConfig, parse_config
from omapifo._pairlock import DEFAULT_LOCK_DIR

from .production import model_lines, permission_model

UNIT = Path(__file__).parent.parent / "deploy" / "systemd" / "omapifo.service"
TMPFILES = Path(__file__).parent.parent / "deploy" / "tmpfiles" / "omapifo.conf"
DOCS = Path(__file__).parent.parent / "docs"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
INSTALLED_AT = "/opt/omapifo/bin/omapifo"  # the unit's ExecStart binary


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze (Debian: systemd)")
def test_the_unit_passes_systemd_analyze_verify_without_a_word(tmp_path):
    # verify fails unless ExecStart's binary exists: the unit rendered with this venv's
    # omapifo, as an install would be. It exits 0 even for unknown keys and bad values,
    # which it only prints: any output at all fails the test. (A missing User= is not
    # checked by verify on systemd 252; the user is created by hand, docs/systemd.md.)
    omapifo = Path(sys.executable).parent / "omapifo"
    assert omapifo.exists()
    text = UNIT.read_text()
    assert INSTALLED_AT in text
    unit = tmp_path / "omapifo.service"
    unit.write_text(text.replace(INSTALLED_AT, str(omapifo)))
    proc = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze (Debian: systemd)")
def test_the_units_exposure_stays_low(tmp_path):
    """systemd-analyze security, offline, on the unit as shipped: its overall exposure
    (0 safest .. 10) is 1.6 "OK" with systemd 252, and any hardening line dropped raises
    it (measured: without ProtectSystem= 1.7, PrivateDevices= 1.8, User= 1.9,
    SystemCallFilter= 3.0, CapabilityBoundingSet= 3.3). --threshold is in tenths."""
    unit = tmp_path / "omapifo.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_AT, str(Path(sys.executable).parent /
                                                            "omapifo")))
    proc = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--threshold=16",
                           "--no-pager", str(unit)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", proc.stdout)
    assert level, proc.stdout[-2000:] + proc.stderr
    assert proc.returncode == 0 and float(level.group(1)) <= 1.6, level.group(0)


def test_the_unit_runs_as_its_own_user_hardened_and_notifies():
    s = unit_settings()
    expected = {
        "Type": "notify", "Restart": "on-failure", "User": "omapifo", "Group": "omapifo",
        "StateDirectory": "omapifo", "RuntimeDirectory": "omapifo",
        "RuntimeDirectoryMode": "2770", "RuntimeDirectoryPreserve": "yes",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes",
        "LockPersonality": "yes",
    }
    for key, value in expected.items():
        assert s.get(key) == [value], (key, s.get(key))
    assert "database" not in s["ExecStart"][0]  # its default: $STATE_DIRECTORY
    assert s["ExecStart"][0].startswith(INSTALLED_AT)
    assert "ReadWritePaths" not in s  # /run/lock no more (issue 22)


def test_the_tmpfiles_snippet_the_unit_and_the_default_lock_dir_agree():
    """/run/omapifo is made at boot by deploy/tmpfiles/omapifo.conf and at start by the
    unit's RuntimeDirectory=: with one owner and mode, neither undoes the other (systemd
    sets both on an existing directory). Not sticky, not writable by others
    (fs.protected_regular). Made for real in tests/test_production.py."""
    (line,) = [ln.split() for ln in TMPFILES.read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    kind, path, mode, user, group, age = line
    s = unit_settings()
    assert (kind, path, age) == ("d", str(DEFAULT_LOCK_DIR), "-")
    assert path == "/run/" + s["RuntimeDirectory"][0]
    assert mode == s["RuntimeDirectoryMode"][0] == "2770"
    assert (user, group) == (s["User"][0], s["Group"][0])
    assert not int(mode, 8) & 0o1002  # neither sticky nor writable by others
    model = {row.path: row for row in permission_model()}
    assert (model[path + "/"].owner, model[path + "/"].group, model[path + "/"].mode) == \
        (user, group, int(mode, 8))


@pytest.mark.parametrize("doc", ["install.md", "systemd.md"])
def test_the_permission_model_is_written_once_the_same_in_the_unit_and_the_docs(doc):
    """The users and paths of the unit's header comment, line for line (spaces aside), in
    the doc's table; tests/test_production.py builds the files from the unit's copy."""
    lines = model_lines()
    assert len(lines) >= 12 and any(ln.startswith("/etc/omapifo/omapi.key root:omapifo "
                                                 "0640") for ln in lines), lines
    text = [" ".join(ln.split()) for ln in (DOCS / doc).read_text().splitlines()]
    start = next((i for i, ln in enumerate(text) if ln == lines[0]), None)
    assert start is not None, f"docs/{doc} has no line {lines[0]!r}"
    assert text[start:start + len(lines)] == lines, f"docs/{doc} differs from the unit"


def test_database_default_is_the_state_directory_under_systemd_else_the_cwd(tmp_path):
    unset = ServiceConfig()
    assert unset.database is None
    assert database_path(unset, {"STATE_DIRECTORY": "/var/lib/omapifo"}) == \
        Path("/var/lib/omapifo/omapifo.sqlite3")
    assert database_path(unset, {"STATE_DIRECTORY": "/a:/b"}) == Path("/a/omapifo.sqlite3")
    assert database_path(unset, {}) == Path("omapifo.sqlite3")
    configured = parse_config({"pairs": {}, "service": {"database": "x.sqlite3"}},
                              path=tmp_path / "omapifo.toml").service
    assert database_path(configured, {"STATE_DIRECTORY": "/var/lib/omapifo"}) == \
        tmp_path / "x.sqlite3"  # a configured database always wins


def test_sd_notify_sends_one_datagram_to_the_socket_and_nothing_without_one(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)
        assert servecli.sd_notify("READY=1", {"NOTIFY_SOCKET": path})
        assert sock.recv(4096) == b"READY=1"
    assert not servecli.sd_notify("READY=1", {})
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:  # the abstract namespace
        name = f"omapifo-test-{os.getpid()}"
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert servecli.sd_notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"READY=1"


def test_log_level_and_format_are_validated(tmp_path):
    svc = parse_config({"pairs": {}, "service": {"log_level": "warning",
                                                 "log_format": "json"}}).service
    assert (svc.log_level, svc.log_format) == ("warning", "json")
    assert (ServiceConfig().log_level, ServiceConfig().log_format) == ("info", "text")
    from omapifo._errors import ConfigError
    with pytest.raises(ConfigError, match="log_format"):
        parse_config({"pairs": {}, "service": {"log_format": "xml"}})
    with pytest.raises(ConfigError, match="log_level"):
        parse_config({"pairs": {}, "service": {"log_level": "loud"}})


@pytest.fixture
def captured():
    def use(level: str, fmt: str) -> io.StringIO:
        stream = io.StringIO()
        handlers.append(logs.configure(level, fmt, stream))
        return stream

    handlers: list[logging.Handler] = []
    loggers = [logging.getLogger(name) for name in logs.LOGGERS]
    old = [lg.level for lg in loggers]
    yield use
    for lg, level in zip(loggers, old, strict=True):
        for h in handlers:
            lg.removeHandler(h)
        lg.setLevel(level)


def test_text_lines_are_key_value_and_json_lines_have_fixed_keys(captured):
    text = captured("info", "text")
    logs.event(logging.INFO, "transition", pair="p", peer="primary", field="reachable",
               **{"from": "yes", "to": "no"})
    logs.event(logging.WARNING, "action", pair="p", peer="secondary", actor="alice",
               action="partner-down", force=False, outcome="refused", reason=None,
               detail="the primary answers: it is normal")
    lines = text.getvalue().splitlines()
    assert lines == [
        "INFO omapifo.events: transition pair=p peer=primary field=reachable from=yes to=no",
        "WARNING omapifo.events: action pair=p peer=secondary actor=alice action=partner-down"
        ' force=False outcome=refused reason=- detail="the primary answers: it is normal"']

    out = captured("info", "json")
    logs.event(logging.WARNING, "poll-error", pair="p", peer="primary",
               error="ConnectionRefused", detail="refused")
    logging.getLogger("omapifo.api.poller").debug("not shown at info")
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert tuple(record) == logs.JSON_KEYS
    assert record["event"] == "poll-error" and record["level"] == "warning"
    assert record["error"] == "ConnectionRefused" and record["actor"] is None


def test_the_level_hides_what_is_below_it(captured):
    out = captured("warning", "text")
    logs.event(logging.INFO, "transition", pair="p", peer="primary")
    logs.event(logging.WARNING, "poll-error", pair="p", peer="primary", error="PeerTimeout")
    assert out.getvalue().splitlines() == [
        "WARNING omapifo.events: poll-error pair=p peer=primary error=PeerTimeout"]


def test_waitress_and_apscheduler_lines_have_the_format_too_without_the_chatter(captured):
    out = captured("info", "json")
    logging.getLogger("waitress").info("Serving on http://127.0.0.1:8067")
    logging.getLogger("apscheduler.executors.default").info("Running job ...")
    logging.getLogger("apscheduler.scheduler").warning("Run time of job ... was missed")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["logger"], r["event"]) for r in records] == [
        ("waitress", None), ("apscheduler.scheduler", None)]


def test_a_configuration_error_exits_2_which_the_unit_does_not_restart(tmp_path):
    assert unit_settings()["RestartPreventExitStatus"] == ["2"]
    cfg = tmp_path / "omapifo.toml"
    cfg.write_text('[pairs]\n[service]\nlog_format = "xml"\n')
    proc = subprocess.run([sys.executable, "-m", "omapifo.clients.cli", "-c", str(cfg),
                           "serve", "--listen", "127.0.0.1:0"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "log_format" in proc.stderr
