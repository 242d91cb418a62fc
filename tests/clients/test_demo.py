"""`omapifo demo` (what `make demo` runs): reaches a running pair, Ctrl-C leaves nothing behind."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests

from omapifo import lab as labmod

from ..conftest import require_lab

pytestmark = pytest.mark.integration


def test_demo_runs_and_ctrl_c_takes_the_lab_down():
    require_lab()
    prefix = f"t{os.getpid() % 100000}d"
    argv = [sys.executable, "-m", "omapifo.clients.cli", "demo", "--prefix", prefix,
            "--listen", "127.0.0.1:0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            out.append(line)
            if "Ctrl-C" in line or proc.poll() is not None:
                break
        assert any("Ctrl-C" in line for line in out), "".join(out)
        assert labmod.Lab.load(prefix).running("primary")
        text = "".join(out)
        url = re.search(r"listens on (http://127.0.0.1:\d+)", text).group(1)
        token = re.search(r"export R=(\S+)", text).group(1)
        pair = labmod.DEFAULT_PEER_NAME
        got = requests.get(f"{url}/api/v1/pairs/{pair}", timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200 and got.json()["health"]["level"] in ("ok", "warning")
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # the demo dumps every thread's stack
            time.sleep(1)
            proc.kill()
            out.append(proc.communicate()[0])
            pytest.fail("the demo did not stop within 60 s of Ctrl-C:\n" + "".join(out))
        out.append(rest)
        assert proc.returncode == 0, "".join(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        labmod.down(prefix)  # only acts if the demo failed to clean up
        # `down` keeps the lab's directory (logs, leases) for a post-mortem; the demo's
        # default one is /run/omapifo-lab/PREFIX, and test runs must not pile them up there
        shutil.rmtree(labmod.REGISTRY / prefix, ignore_errors=True)
    text = "".join(out)
    assert "taken down" in text
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{prefix}-" not in names
    assert not labmod.Lab.record_path(prefix).exists()
