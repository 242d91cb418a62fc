"""Under CI=true a skip fails the run (tests/conftest.py, pytest_runtest_makereport)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = '''import pytest

def test_skips_at_run_time():
    pytest.skip("a tool is missing")

@pytest.mark.skipif(True, reason="a marker skip")
def test_skips_by_marker():
    pass

@pytest.mark.xfail(reason="expected to fail", strict=True)
def test_expected_failure():
    assert False
'''


def _run_probe(ci: str) -> str:
    # The probe sits beside this file so that tests/conftest.py (the hook) applies to it.
    probe = Path(__file__).with_name(f"_ci_skip_probe_{os.getpid()}.py")
    probe.write_text(PROBE)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "CI": ci})
    finally:
        probe.unlink()
    return proc.stdout


def test_a_skip_fails_in_ci_and_an_xfail_does_not():
    out = _run_probe("true")
    assert "skipped in CI (CI=true), which counts as a failure: Skipped: a tool is missing" in out
    assert "a marker skip" in out
    assert "1 failed, 1 xfailed, 1 error" in out, out


def test_outside_ci_a_skip_stays_a_skip():
    out = _run_probe("")
    assert "2 skipped, 1 xfailed" in out, out
