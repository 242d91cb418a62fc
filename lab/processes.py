"""The lab's processes (dhcpd, dhcrelay, dhclient): started in a namespace, ended by pid.

A process is only ever signalled by the pid the lab recorded when it started it, after
checking that the pid still runs that program (pids get reused); never by name.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def spawn(ns: str, argv: list[str], log: Path, cwd: Path, pid_file: Path,
          record_pid: Callable[[int], None]) -> subprocess.Popen[bytes]:
    """Start ``argv`` in ``ns``; `ip netns exec` execs it, so the pid is the program's.

    ``record_pid`` gets the pid first (the lab's record has it before anything else can
    fail), then it goes to ``pid_file`` (the seed's ``kill `cat dhcpd.pid```); output
    goes to ``log``."""
    with open(log, "ab") as fh:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=True)
    record_pid(proc.pid)
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def pid_runs(pid: int | None, program: str) -> bool:
    """True if ``pid`` is alive and still runs ``program`` (pids get reused)."""
    if not pid:
        return False
    reap(pid)  # our own child that exited by itself (a dhcpd told to shut down)
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    # Right after spawning, the child may still be `ip netns exec` about to exec it.
    return comm in (program, "ip") and not zombie


def end_pid(pid: int | None, program: str, grace: float = 5.0) -> None:
    """SIGTERM ``pid`` if it still runs ``program``; SIGKILL after ``grace`` seconds."""
    if not pid_runs(pid, program):
        reap(pid)
        return
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGCONT)  # a SIGSTOPped process acts on SIGTERM once continued
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap(pid)
        if not pid_runs(pid, program):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        reap(pid)
        if not pid_runs(pid, program):
            return
        time.sleep(0.02)


def reap(pid: int | None) -> None:
    """Collect our own exited child so it does not linger as a zombie."""
    if not pid:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def freeze(pid: int | None, program: str) -> None:
    """SIGSTOP ``pid`` if it still runs ``program``."""
    if pid_runs(pid, program):
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)


def thaw(pid: int | None, program: str) -> None:
    """SIGCONT ``pid`` if it still runs ``program`` (fine when it is not stopped)."""
    if pid_runs(pid, program):
        assert pid is not None
        os.kill(pid, signal.SIGCONT)


def remove_stale_pid_file(pid_file: Path, program: str) -> None:
    """Delete ``pid_file`` unless its pid still runs ``program``.

    dhcpd refuses to start ("There's already a DHCP server running") while the pid in
    its pid file exists, and a stopped dhcpd whose parent has not reaped it yet still
    does: a pid file whose process no longer runs dhcpd is stale.
    """
    if not pid_file.exists():
        return
    try:
        stale = not pid_runs(int(pid_file.read_text().split()[0]), program)
    except (ValueError, IndexError):
        stale = True
    if stale:
        pid_file.unlink()
