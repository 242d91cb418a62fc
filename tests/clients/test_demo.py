"""`omapifo demo` (what `make demo` runs): reaches a running pair, Ctrl-C leaves nothing behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from omapifo import lab as labmod

from ..conftest import require_lab

pytestmark = pytest.mark.integration


def test_demo_runs_and_ctrl_c_takes_the_lab_down():
    require_lab()
    prefix = f"t{os.getpid() % 100000}d"
    proc = subprocess.Popen([sys.executable, "-m", "omapifo.clients.cli", "demo", "--prefix",
                             prefix], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        out.append(rest)
        assert proc.returncode == 0, "".join(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        labmod.down(prefix)  # only acts if the demo failed to clean up
    text = "".join(out)
    assert "taken down" in text
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{prefix}-" not in names
    assert not labmod.Lab.record_path(prefix).exists()
