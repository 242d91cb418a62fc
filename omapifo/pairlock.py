"""One change of a pair at a time, across threads and processes on this host.

The REST service and the command line in direct mode take the same lock file
(``lock_dir``/omapifo-PAIR.lock, with flock(2)); flock also excludes two open files
in one process, so two :class:`FailoverPair` objects of one pair exclude each other.
Whoever waits re-reads both peers once it holds the lock, and so sees the change the
first one made (tests/test_guards.py races forced partner-downs on both peers).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ActionBusy, OperationRefused

DEFAULT_LOCK_DIR = Path("/run/lock")  # tmpfs, mode 1777 on Debian: every user can lock
DEFAULT_WAIT = 30.0  # seconds; a shutdown waits up to 15 s for its partner


def lock_path(lock_dir: Path, pair: str) -> Path:
    """The lock file of ``pair``: its name made safe for a file name, plus a short hash
    when anything had to be replaced, so two odd names never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", pair)[:64]
    if safe != pair:
        safe += "-" + hashlib.sha256(pair.encode()).hexdigest()[:8]
    return lock_dir / f"omapifo-{safe}.lock"


@contextmanager
def hold(path: Path, *, pair: str, operation: str, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold the pair's lock file; :class:`ActionBusy` after ``wait`` seconds."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0o644 & umask: another user on the host may lock the same file (flock needs
        # only an open descriptor, read-only is enough)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OperationRefused(f"cannot open the pair's lock file {path}: "
                               f"{exc.strerror or exc}; nothing was sent (set lock_dir in "
                               "the configuration)",
                               peer=pair, operation=operation) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ActionBusy(f"another change of pair {pair!r} has held its lock "
                                     f"({path}) for over {wait:g} s; nothing was sent. Try "
                                     "again once it is over", peer=pair,
                                     operation=operation) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
