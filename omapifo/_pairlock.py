"""One change of a pair at a time, across threads, processes and users on this host.

The REST service and the command line in direct mode take the same lock file
(``lock_dir``/omapifo-PAIR.lock, with flock(2)); flock also excludes two open files
in one process, so two :class:`FailoverPair` objects of one pair exclude each other.
Whoever waits re-reads both peers once it holds the lock, and so sees the change the
first one made (tests/test_guards.py races forced partner-downs on both peers).

Where the lock files live (docs/install.md, "Users and permissions"): ``/run/omapifo``,
made by deploy/tmpfiles/omapifo.conf at boot and by the unit's ``RuntimeDirectory=``,
owned by the service user and its group, mode 2770: root and the service (and members
of its group) may create files there, nobody else may even look. Not ``/run/lock``:
in a sticky world-writable directory the kernel's ``fs.protected_regular=1`` (systemd's
default since v241) forbids open(O_CREAT) of a file another user owns, root included,
so whoever made the lock file first (the service or root) locked the other one out, and
any local user could make it first (measured, issue 22).

What is trusted in the directory: a regular file with one link, owned by a user who may
create files there anyway (root, the directory's owner, its group's members when the
group may write). Anything else (a symlink, a FIFO, a stranger's file or a hard link to
one) no trustworthy holder would lock, so it is removed, under a lock on the directory
and only if it is still the same entry, and the lock file made afresh: it can neither
block a change nor redirect the open. A directory every user may write is refused.
"""
from __future__ import annotations

import errno
import fcntl
import grp
import hashlib
import logging
import os
import pwd
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._errors import ActionBusy, OperationRefused

log = logging.getLogger("omapifo.pairlock")

DEFAULT_LOCK_DIR = Path("/run/omapifo")  # deploy/tmpfiles/omapifo.conf, RuntimeDirectory=
# Without /run/omapifo (the snippet not installed, the service never started since boot):
# a directory of the user's own, so changes exclude each other only within one user.
FALLBACK_ROOT = Path("/tmp")
DEFAULT_WAIT = 30.0  # seconds; a shutdown waits up to 15 s for its partner
LOCK_MODE = 0o644  # lock files hold nothing secret; every user of the directory opens them
INSTALL_HINT = (f"create {DEFAULT_LOCK_DIR} as deploy/tmpfiles/omapifo.conf does "
                "(install it in /etc/tmpfiles.d/ and run systemd-tmpfiles --create "
                "omapifo.conf: omapifo:omapifo, mode 2770), or set lock_dir in the "
                "configuration to a directory only the users who operate omapifo may write")

# never follow a symlink; never make a terminal ours; never wait on a FIFO's writer
_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
_ATTEMPTS = 5  # entries replaced under us before we give up (each needs a writer's race)
_POLL = 0.02


def lock_path(lock_dir: Path, pair: str) -> Path:
    """The lock file of ``pair``: its name made safe for a file name, plus a short hash
    when anything had to be replaced, so two odd names never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", pair)[:64]
    if safe != pair:
        safe += "-" + hashlib.sha256(pair.encode()).hexdigest()[:8]
    return lock_dir / f"omapifo-{safe}.lock"


def resolve_dir(directory: Path) -> tuple[Path, bool]:
    """(the directory a lock in ``directory`` is taken in, whether it is the fallback):
    ``directory`` itself, except :data:`DEFAULT_LOCK_DIR` while it does not exist, then
    :data:`FALLBACK_ROOT`/omapifo-UID (made 0700, refused unless it is this user's)."""
    if directory == DEFAULT_LOCK_DIR and not os.path.lexists(DEFAULT_LOCK_DIR):
        return FALLBACK_ROOT / f"omapifo-{os.geteuid()}", True
    return directory, False


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def may_create_in(uid: int, d: os.stat_result) -> bool:
    """Whether user ``uid`` may create files in the directory whose stat is ``d``: root,
    its owner, or a member of its group when the group may write (one answer for every
    process that asks, so all holders trust the same files)."""
    if uid in (0, d.st_uid):
        return True
    if not d.st_mode & stat.S_IWGRP:
        return False
    try:
        pw = pwd.getpwuid(uid)
    except KeyError:
        return False
    return d.st_gid in os.getgrouplist(pw.pw_name, pw.pw_gid)


def distrust(st: os.stat_result, d: os.stat_result) -> str | None:
    """Why the entry ``st`` (lstat) in the directory ``d`` is no lock file to use, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_nlink != 1:
        return f"has {st.st_nlink} hard links (another file linked in)"
    if not may_create_in(st.st_uid, d):
        return f"belongs to {_user(st.st_uid)}, who may not create files in its directory"
    return None


class _Lock:
    """One attempt to hold the lock file ``path``; every failure an OperationRefused or
    ActionBusy that names the path and the fix, nothing sent."""

    def __init__(self, path: Path, pair: str, operation: str, wait: float) -> None:
        self.directory, self.fallback = resolve_dir(path.parent)
        self.path = self.directory / path.name
        self.pair, self.operation, self.wait = pair, operation, wait
        self.deadline = time.monotonic() + wait

    def refuse(self, message: str) -> OperationRefused:
        return OperationRefused(f"{message}; nothing was sent", peer=self.pair,
                                operation=self.operation)

    def open_dir(self) -> tuple[int, os.stat_result]:
        d = self.directory
        try:
            if self.fallback:
                # in /tmp: any user may have made this name first, as a symlink or a dir
                os.makedirs(d, mode=0o700, exist_ok=True)
                dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            else:
                d.mkdir(mode=0o770, parents=True, exist_ok=True)
                dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise self.refuse(self._dir_problem(exc)) from None
        st = os.fstat(dfd)
        mode = stat.S_IMODE(st.st_mode)
        problem = None
        if self.fallback and (st.st_uid != os.geteuid() or mode & 0o022):
            problem = (f"{d} (the lock directory while {DEFAULT_LOCK_DIR} does not exist) "
                       f"is {_user(st.st_uid)}'s, mode {mode:o}, not this user's own: "
                       f"remove it, or {INSTALL_HINT}")
        elif mode & stat.S_IWOTH:
            problem = (f"the lock directory {d} is writable by every user (mode {mode:o}): "
                       "any of them could make the pair's lock file first and block or "
                       f"redirect changes; {INSTALL_HINT}")
        if problem:
            os.close(dfd)
            raise self.refuse(problem)
        return dfd, st

    def _dir_problem(self, exc: OSError) -> str:
        d = self.directory
        text = f"cannot open the pair's lock directory {d}: {exc.strerror or exc}"
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and d.is_symlink():
            # O_NOFOLLOW | O_DIRECTORY on a symlink: ENOTDIR (Linux), not ELOOP
            return f"{text} (a symbolic link: remove it, or {INSTALL_HINT})"
        if exc.errno in (errno.EACCES, errno.EPERM):
            try:
                st = d.stat()
            except OSError:
                return f"{text}; run omapifo as a user who may write there, or set lock_dir"
            owner, group = _user(st.st_uid), _group(st.st_gid)
            who = ", ".join(dict.fromkeys(["root", owner]))
            return (f"{text} ({owner}:{group}, mode {stat.S_IMODE(st.st_mode):o}): only "
                    f"{who} and members of group {group} make changes on this host "
                    "(other users: through the REST service, omapifo --api URL)")
        return f"{text}; {INSTALL_HINT}"

    def open_file(self, dfd: int, dst: os.stat_result) -> int:
        """A descriptor of a lock file made by a user who may write the directory."""
        name = self.path.name
        for _ in range(_ATTEMPTS):
            try:
                fd = os.open(name, _OPEN | os.O_CREAT | os.O_EXCL, LOCK_MODE, dir_fd=dfd)
            except FileExistsError:
                pass
            else:
                # the creator's umask (the unit's UMask=0077, an admin's 077) would keep
                # the other users of the directory from opening it
                os.fchmod(fd, LOCK_MODE)
                return fd
            try:
                seen = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            problem = distrust(seen, dst)
            if problem:
                self.remove(dfd, seen, problem)
                continue
            try:
                fd = os.open(name, _OPEN, dir_fd=dfd)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    continue  # made a symlink since the stat: look again
                raise
            if _same(os.fstat(fd), seen):
                return fd
            os.close(fd)
        raise self.refuse(f"the pair's lock file {self.path} was replaced {_ATTEMPTS} times "
                          "while it was being opened: something else writes in "
                          f"{self.directory}")

    def remove(self, dfd: int, seen: os.stat_result, problem: str) -> None:
        """Unlink an entry no trustworthy holder would lock (each checks as this one does),
        so no change holds it: removing it cannot let two run at once. Under the
        directory's flock and only if the name is still that entry: two processes that
        found it never remove the good file the other made meanwhile."""
        self.flock(dfd, "the lock directory")
        try:
            try:
                now = os.stat(self.path.name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if not _same(now, seen):
                return  # replaced meanwhile: look again
            try:
                os.unlink(self.path.name, dir_fd=dfd)
            except OSError as exc:
                raise self.refuse(f"the pair's lock file {self.path} {problem}, and "
                                  f"{_user(os.geteuid())} cannot remove it "
                                  f"({exc.strerror}): remove it (rm {self.path})") from None
            log.warning("removed %s: it %s; a lock file is a regular file made by a user "
                        "who may write in %s", self.path, problem, self.directory)
        finally:
            fcntl.flock(dfd, fcntl.LOCK_UN)

    def flock(self, fd: int, what: str) -> None:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= self.deadline:
                    raise ActionBusy(f"another change of pair {self.pair!r} has held "
                                     f"{what} ({self.path}) for over {self.wait:g} s; nothing "
                                     "was sent. Try again once it is over", peer=self.pair,
                                     operation=self.operation) from None
                time.sleep(_POLL)

    def acquire(self) -> int:
        dfd, dst = self.open_dir()
        try:
            for _ in range(_ATTEMPTS):
                try:
                    fd = self.open_file(dfd, dst)
                except OSError as exc:
                    raise self.refuse(f"cannot open the pair's lock file {self.path}: "
                                      f"{exc.strerror or exc}") from None
                try:
                    self.flock(fd, "its lock")
                    # held; but is it still the file the name leads to? (removed by hand,
                    # or by systemd with the directory): a lock nobody else can find is none
                    try:
                        now = os.stat(self.path.name, dir_fd=dfd, follow_symlinks=False)
                    except FileNotFoundError:
                        now = None
                    if now is not None and _same(now, os.fstat(fd)):
                        return fd
                except BaseException:
                    os.close(fd)
                    raise
                os.close(fd)
            raise self.refuse(f"the pair's lock file {self.path} was replaced {_ATTEMPTS} "
                              f"times while it was being locked: something else writes in "
                              f"{self.directory}")
        finally:
            os.close(dfd)


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@contextmanager
def hold(path: Path, *, pair: str, operation: str, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold the pair's lock file ``path`` (in :data:`DEFAULT_LOCK_DIR`, or the fallback
    of :func:`resolve_dir`); :class:`ActionBusy` after ``wait`` seconds,
    :class:`OperationRefused` naming the fix when the directory is unsafe or cannot be
    used."""
    fd = _Lock(path, pair, operation, wait).acquire()
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
