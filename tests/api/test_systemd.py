"""`omapifo serve` started the way deploy/systemd/omapifo.service starts it: NOTIFY_SOCKET
and STATE_DIRECTORY set, no database configured; and its log lines for an admin (the
journal is its stderr), against the lab."""
from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from omapifo import Role

from .conftest import OFFLINE_KEY, OPERATOR, auth, service_config, wait_for
from .test_actions import PAIR, free_port

pytestmark = pytest.mark.integration
SILENT_TIMEOUT = 2.0


def config_without_database(lab, directory: Path, extra: str = "") -> Path:
    path = service_config(lab.config_path, directory, directory / "unused.sqlite3")
    text = re.sub(r'(?m)^database = ".*"\n', "", path.read_text())
    assert "database" not in text
    path.write_text(text + extra)
    path.chmod(0o600)  # an inline key (the silent pair's) is refused in a file others can read
    return path


class Serve:
    """The service as a subprocess; its stderr collected line by line."""

    def __init__(self, cfg: Path, port: int, env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omapifo.clients.cli", "-c", str(cfg), "serve",
             "--listen", f"127.0.0.1:{port}"], env={**os.environ, **env}, cwd=cwd,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def events(self, name: str) -> list[dict]:
        out = []
        for line in list(self.lines):
            if line.startswith("{"):
                record = json.loads(line)
                if record["event"] == name:
                    out.append(record)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.reader.join(timeout=10)


def test_ready_is_notified_after_the_first_poll_of_every_pair_and_the_database_is_in_the_state_directory(  # noqa: E501
        lab, tmp_path):
    # a second pair whose peers accept connections and never answer: its first poll ends
    # only after its timeout, so a READY=1 sent before the first round comes too early
    silent = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    try:
        ports = [s.getsockname()[1] for s in silent]
        cfg = config_without_database(lab, tmp_path, (
            f'\n[pairs.silent]\nprimary = "127.0.0.1:{ports[0]}"\n'
            f'secondary = "127.0.0.1:{ports[1]}"\nkey_name = "k"\nkey = "{OFFLINE_KEY}"\n'
            f"timeout = {SILENT_TIMEOUT}\n"))
        state = tmp_path / "state"
        state.mkdir(mode=0o700)
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        notify_path = str(tmp_path / "notify")
        port = free_port()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind(notify_path)
            notify.settimeout(30)
            started = time.monotonic()
            serve = Serve(cfg, port, {"NOTIFY_SOCKET": notify_path,
                                      "STATE_DIRECTORY": str(state)}, cwd)
            try:
                message = notify.recv(4096).decode()
                waited = time.monotonic() - started
                # at READY=1 both pairs have been polled once: the service answers with state
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
                assert message.split("\n")[0] == "READY=1", message
                assert health["polls"] >= 2, (health, message)
                assert waited >= SILENT_TIMEOUT, waited
                db = state / "omapifo.sqlite3"
                assert db.exists() and not (cwd / "omapifo.sqlite3").exists()
                assert stat.S_IMODE(db.stat().st_mode) == 0o600
                serve.proc.terminate()
                serve.proc.wait(timeout=20)
                assert notify.recv(4096) == b"STOPPING=1"
            finally:
                serve.stop()
            assert serve.proc.returncode == 0, serve.lines
            # the default format, text: the silent pair's first poll failed, one line a peer
            for peer in ("primary", "secondary"):
                assert any(re.fullmatch(rf"WARNING omapifo\.events: poll-error pair=silent "
                                        rf"peer={peer} error=PeerTimeout detail=.*", line)
                           for line in serve.lines), serve.lines
            assert any(line.startswith("INFO omapifo.serve: omapifo serving 2 pair(s) on ")
                       and str(state / "omapifo.sqlite3") in line for line in serve.lines)
    finally:
        for s in silent:
            s.close()


def test_transitions_actions_and_poll_errors_are_one_json_line_each(healthy_lab, tmp_path):
    lab = healthy_lab
    cfg = config_without_database(lab, tmp_path, "")
    text = cfg.read_text().replace("[service]\n", '[service]\nlog_format = "json"\n', 1)
    cfg.write_text(text)
    state = tmp_path / "state"
    state.mkdir()
    port = free_port()
    serve = Serve(cfg, port, {"STATE_DIRECTORY": str(state)}, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _healthz(base), timeout=30), serve.lines
        # refused by the guard (the primary answers normal): the action's outcome, with who
        r = requests.post(f"{base}/api/v1/pairs/{PAIR}/peers/secondary/partner-down",
                          json={"confirm": PAIR, "reason": "test: should be refused"},
                          headers=auth(OPERATOR), timeout=30)
        assert r.status_code == 409, r.text
        # turned away before the library: the same line, from the rejected-request recorder
        r = requests.post(f"{base}/api/v1/pairs/{PAIR}/peers/secondary/partner-down",
                          json={"confirm": PAIR}, timeout=30)
        assert r.status_code == 401
        actions = wait_for(lambda: serve.events("action")[1:] and serve.events("action"),
                           timeout=10)
        assert actions, serve.lines
        refused, rejected = actions
        assert (refused["actor"], refused["action"], refused["peer"], refused["outcome"],
                refused["reason"], refused["pair"], refused["level"]) == (
            "alice", "partner-down", "secondary", "refused", "test: should be refused",
            PAIR, "warning")
        assert refused["detail"]
        assert (rejected["actor"], rejected["outcome"]) == ("(no valid token)", "rejected")
        assert "HTTP 401" in rejected["detail"]

        lab.stop(Role.PRIMARY)
        went = wait_for(lambda: [t for t in serve.events("transition")
                                 if t["peer"] == "primary" and t["field"] == "reachable"],
                        timeout=15)
        assert went, serve.lines
        assert (went[0]["pair"], went[0]["from"], went[0]["to"]) == (PAIR, "yes", "no")
        errors = wait_for(lambda: serve.events("poll-error"), timeout=10)
        assert errors and errors[0]["peer"] == "primary" and errors[0]["pair"] == PAIR
        assert errors[0]["error"] == "ConnectionRefused", errors[0]
        for line in serve.lines:  # every line of the service is a JSON object
            assert line.startswith("{"), line
    finally:
        serve.stop()


def _healthz(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).json()["polls"] > 0
    except requests.ConnectionError:
        return False
