"""Admin habits against the real pair (issue 22): `omapifo status --watch` on a terminal and
on a pipe, ended by Ctrl-C; the `check_omapifo` plugin; `omapifo token new` whose printed
lines let its token into the service. The commands run as processes of their own, as an
admin or Nagios runs them (this interpreter's, so this checkout's code)."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import requests

from omapifo import FailoverState, Role, load_config
from omapifo.api.auth import digest, identify
from omapifo.clients import cli, servecli
from omapifo.clients.tokencli import config_lines
from omapifo._config import parse_config
from omapifo.clients.paircli import CLEAR_SCREEN, watch_interval

from ..api.conftest import OPERATOR, READER, auth, service_config

PAIR = "classroom-1-6"
OMAPIFO = [sys.executable, "-m", "omapifo.clients.cli"]
CHECK_OMAPIFO = Path(sys.executable).parent / "check_omapifo"  # setup.cfg's console script
HEADER = re.compile(r"omapifo status classroom-1-6: every 1 s, read at \d\d:\d\d:\d\d")
ANSI = re.compile(r"\033\[[0-9;]*[A-Za-z]")


def command_env(lab, tmp_path, service_url: str | None = None) -> dict[str, str]:
    """The command's environment; with ``service_url`` (the api mode of
    tests/clients/conftest.py) it goes through that service, with a reader's token."""
    env = {**os.environ, "OMAPIFO_CONFIG": str(lab.config_path),
           "OMAPIFO_AUDIT_LOG": str(tmp_path / "audit.log")}
    for name in ("OMAPIFO_API_URL", "OMAPIFO_TOKEN", "OMAPIFO_TOKEN_FILE", "NO_COLOR"):
        env.pop(name, None)
    if service_url:
        env.update(OMAPIFO_API_URL=service_url, OMAPIFO_TOKEN=READER)
    return env


def ended(pid: int, deadline: float) -> int | None:
    """The exit status of child ``pid`` once it ended, polling until ``deadline``."""
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


# -- status --watch --------------------------------------------------------------------------


def test_watch_interval_is_bounded_and_says_what_is_wrong():
    assert watch_interval("1") == 1.0 and watch_interval("2.5") == 2.5
    for bad, message in (("0.5", "from 1 to 3600 seconds"), ("3601", "from 1 to 3600"),
                         ("nan", "from 1 to 3600"),
                         ("classroom-1-6", "a pair goes before it: omapifo status PAIR")):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            watch_interval(bad)
    args = cli.build_parser().parse_args(["status", PAIR, "--watch"])
    assert args.watch == 2.0  # the default: as watch(1)'s


def test_watch_with_json_is_refused(capsys):
    assert cli.main(["status", "--watch", "--json"]) == 2
    assert "--watch redraws for a person" in capsys.readouterr().err


@pytest.mark.integration
def test_watch_redraws_a_terminal_until_ctrl_c_and_sees_a_server_stop(healthy_lab, tmp_path,
                                                                     service_url):
    """On a pseudo-terminal, as an admin sees it: each read clears the screen and draws
    both peers in colour; the primary stopped during the watch shows up on a later redraw
    (each redraw reads dhcpd again); Ctrl-C (the terminal's ^C, a SIGINT from the line
    discipline) ends it with 0."""
    lab = healthy_lab
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.execve(sys.executable, [*OMAPIFO, "status", PAIR, "--watch", "1"],
                  command_env(lab, tmp_path, service_url))
    screen = b""

    def read_until(pattern: str, timeout: float) -> str:
        """The output up to the first frame matching ``pattern`` (frames split at the
        clear-screen sequence), reading at most ``timeout`` seconds."""
        nonlocal screen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames = screen.decode(errors="replace").split(CLEAR_SCREEN)
            done = [f for f in frames[:-1] + ([frames[-1]] if "\n\n" in frames[-1] else [])
                    if re.search(pattern, ANSI.sub("", f), re.S)]
            if done:
                return done[0]
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(fd, 65536)
                except OSError:  # EIO: the child ended and the terminal closed
                    break
        raise AssertionError(f"no frame matching {pattern!r} within {timeout} s; the "
                             f"terminal showed:\n{screen.decode(errors='replace')[-3000:]}")

    try:
        normal = read_until(r"primary .*normal .*secondary .*normal.*classroom-1-6: ok",
                            timeout=30)
        assert HEADER.search(normal) and "(Ctrl-C ends)" in normal
        assert "\033[32mnormal\033[0m" in normal  # green: a terminal gets colour
        lab.stop(Role.PRIMARY)
        stopped = read_until(r"primary .*unreachable.*secondary .*communications-interrupted",
                             timeout=60)
        assert "classroom-1-6: " in stopped
        assert screen.count(CLEAR_SCREEN.encode()) >= 3
        os.write(fd, b"\x03")  # ^C, typed on the terminal
        status = ended(pid, time.monotonic() + 20)
        if status is not None:
            pid = 0  # reaped
        assert status == 0, f"exit {status} after ^C"
    finally:
        if pid:  # still running (or not yet reaped): end it by its pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.integration
def test_watch_on_a_pipe_prints_a_block_per_read_and_sigint_ends_it_with_0(lab, tmp_path,
                                                                           service_url):
    proc = subprocess.Popen([*OMAPIFO, "status", PAIR, "--watch", "1"],
                            env=command_env(lab, tmp_path, service_url), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        seen = b""  # read from the pipe itself: communicate() below reads it the same way
        deadline = time.monotonic() + 30
        while len(HEADER.findall(seen.decode())) < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                seen += os.read(proc.stdout.fileno(), 65536)
        assert len(HEADER.findall(seen.decode())) >= 3, seen.decode()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = (seen + out).decode()
    assert proc.returncode == 0, err.decode()
    assert not ANSI.search(text) and "Ctrl-C" not in text  # a log gets no escapes
    blocks = [b for b in re.split(r"(?m)^(?=omapifo status )", text) if b.strip()]
    assert len(blocks) >= 3 and all("classroom-1-6: ok" in b for b in blocks[:3]), text


@pytest.mark.integration
def test_watch_ends_at_once_when_the_first_read_fails(lab, tmp_path, service_url):
    # an unknown pair is a usage error (2) both ways: the service's 404 is UnknownPair again
    proc = subprocess.run([*OMAPIFO, "status", "no-such-pair", "--watch", "1"],
                          env=command_env(lab, tmp_path, service_url), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "no pair named 'no-such-pair'" in proc.stderr


# -- check_omapifo ---------------------------------------------------------------------------


def plugin(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert CHECK_OMAPIFO.exists(), (f"{CHECK_OMAPIFO}: no check_omapifo console script; "
                                    "reinstall the package (make venv)")
    return subprocess.run([str(CHECK_OMAPIFO), *argv], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.integration
def test_check_omapifo_is_omapifo_check_under_the_plugins_name(healthy_lab, tmp_path,
                                                               service_url):
    env = command_env(healthy_lab, tmp_path, service_url)
    del env["OMAPIFO_CONFIG"]
    got = plugin(PAIR, "--config", str(healthy_lab.config_path), "-w", "60", "-c", "300",
                 env=env)
    assert got.returncode == 0, got.stdout + got.stderr
    assert got.stdout.startswith("OMAPIFO OK - classroom-1-6: both peers normal | ")
    assert got.stdout.count("\n") == 1 and "primary_comms_interrupted_seconds=0s" in got.stdout
    # the same line `omapifo check` prints (perfdata but the clock may differ)
    same = subprocess.run([*OMAPIFO, "check", PAIR],
                          env=command_env(healthy_lab, tmp_path, service_url),
                          capture_output=True, text=True, timeout=60)
    assert same.stdout.split(" | ")[0] == got.stdout.split(" | ")[0]
    # bad usage is UNKNOWN on stdout, never argparse's 2 (which Nagios reads as CRITICAL)
    got = plugin(PAIR, "--no-such-option", env=env)
    assert got.returncode == 3 and got.stdout.startswith("OMAPIFO UNKNOWN - unrecognized "
                                                         "arguments: --no-such-option")
    assert "(usage: check_omapifo " in got.stdout and got.stdout.count("\n") == 1
    got = plugin(env=env)
    assert got.returncode == 3 and "required: pair" in got.stdout
    # -c is the critical range here too: the configuration is --config only
    got = plugin(PAIR, "-c", str(healthy_lab.config_path), env=env)
    assert got.returncode == 3 and "is not a threshold range" in got.stdout
    healthy_lab.stop(Role.SECONDARY)
    healthy_lab.wait_states(FailoverState.COMMUNICATIONS_INTERRUPTED, None, timeout=30)
    got = plugin(PAIR, "--config", str(healthy_lab.config_path), "-w", "0", env=env)
    assert got.returncode == 1 and got.stdout.startswith("OMAPIFO WARNING"), got.stdout


# -- token new -------------------------------------------------------------------------------


def test_token_new_prints_the_token_alone_on_stdout_and_its_digest_line(capsys):
    assert cli.main(["token", "new", "--role", "operator", "--name", "alice@ops"]) == 0
    got = capsys.readouterr()
    token = got.out.strip()
    assert got.out == token + "\n" and re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert token not in got.err and config_lines("alice@ops", "operator", token) in got.err
    toml = got.err[got.err.index("[[service.tokens]]"):].split("\n# ")[0]
    doc = tomllib.loads(toml)
    tokens = parse_config({"pairs": {}, "service": doc["service"]}).service.tokens
    assert tokens[0].sha256 == digest(token)
    caller = identify(f"Bearer {token}", tokens)
    assert caller is not None and (caller.name, caller.operator) == ("alice@ops", True)
    # two tokens are never the same; the default is a reader with a dated name
    assert cli.main(["token", "new"]) == 0
    again = capsys.readouterr()
    assert again.out.strip() != token
    assert re.search(r'name = "reader-\d{8}-[0-9a-f]{4}"\nrole = "reader"', again.err)
    for bad in ('a"b', "", "x" * 65, "-x", "a b"):
        assert cli.main(["token", "new", f"--name={bad}"]) == 2
        got = capsys.readouterr()
        assert "token new: --name" in got.err and not got.out  # no token made


@pytest.mark.integration
def test_the_printed_lines_let_the_token_into_the_service(healthy_lab, tmp_path):
    """The whole habit: make the token, keep it in a file with `> FILE` under umask 077,
    paste the lines into the service's configuration, use it with --token-file."""
    made = subprocess.run(["bash", "-c", f"umask 077 && {' '.join(OMAPIFO)} token new "
                           "--role operator --name night-shift > token"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token_file = tmp_path / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    lines = made.stderr[made.stderr.index("[[service.tokens]]"):].split("\n# ")[0]
    cfg = service_config(healthy_lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    cfg.write_text(cfg.read_text() + "\n" + lines + "\n")
    url, run, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(run)
    try:
        env = {**command_env(healthy_lab, tmp_path), "OMAPIFO_API_URL": url}
        got = subprocess.run([*OMAPIFO, "--token-file", str(token_file), "status", PAIR,
                              "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["secondary"]["local_state"]["name"] == "normal"
        # an operator's: a change is tried in its name (refused by the guard: both normal)
        got = subprocess.run([*OMAPIFO, "--token-file", str(token_file), "partner-down", PAIR,
                              "secondary", "--dry-run", "--yes"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert got.returncode == 1 and "not communications-interrupted" in got.stderr
        entries = requests.get(f"{url}/api/v1/audit", headers=auth(OPERATOR),
                               timeout=10).json()["entries"]
        assert (entries[0]["actor"], entries[0]["action"], entries[0]["outcome"]) == (
            "night-shift", "partner-down", "refused")
        assert requests.get(f"{url}/api/v1/pairs/{PAIR}", headers=auth(READER),
                            timeout=10).status_code == 200  # the other tokens still work
    finally:
        stop()
