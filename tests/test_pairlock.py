"""omapifo._pairlock on a real file system: the lock directory's checks, and what is done
with an entry in it that no user of the directory made (a symlink, a FIFO, a stranger's
file, a hard link). The same under production's users and sysctls, with real changes of
the lab pair: tests/test_production.py.

Some cases need a file owned by another user: they chown, so they need root (CI runs as
root; locally they skip with the reason, and count as failures under CI=true)."""
from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from omapifo import _pairlock as pairlock
from omapifo._errors import ActionBusy, OperationRefused

PAIR = "classroom-1-6"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chowns files to another user: "
                                "needs root")
NOBODY = pwd.getpwnam("nobody")


def hold(path: Path, wait: float = 5.0):
    return pairlock.hold(path, pair=PAIR, operation="partner-down", wait=wait)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other users can reach (pytest's tmp_path is under
    /tmp/pytest-of-root, mode 0700)."""
    d = Path(tempfile.mkdtemp(prefix="omapifo-test-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d)


@pytest.fixture
def lock_dir(tmp_path: Path) -> Path:
    d = tmp_path / "locks"
    d.mkdir(mode=0o750)
    return d


def test_lock_path_keeps_plain_names_and_hashes_odd_ones(tmp_path):
    assert pairlock.lock_path(tmp_path, PAIR) == tmp_path / "omapifo-classroom-1-6.lock"
    odd = pairlock.lock_path(tmp_path, "a/b")
    assert odd.parent == tmp_path and odd.name.startswith("omapifo-a_b-")
    assert odd != pairlock.lock_path(tmp_path, "a_b")


def test_two_holders_exclude_each_other_and_the_second_gives_up_busy(lock_dir):
    path = pairlock.lock_path(lock_dir, PAIR)
    with hold(path):
        with pytest.raises(ActionBusy, match="held its lock"):
            with hold(path, wait=0.3):
                pass
    with hold(path, wait=0.3):  # released
        pass


def test_the_lock_file_is_0644_whatever_the_umask_of_its_maker(lock_dir):
    # the unit's UMask=0077 (or an admin's 077) would make it 0600: the service could
    # then not open a file root made first, nor root's umask-077 shell the reverse
    # without its privilege; 0644 holds nothing secret
    old = os.umask(0o077)
    try:
        with hold(pairlock.lock_path(lock_dir, PAIR)):
            pass
    finally:
        os.umask(old)
    st = pairlock.lock_path(lock_dir, PAIR).stat()
    assert stat.S_IMODE(st.st_mode) == 0o644


@pytest.mark.parametrize("mode", [0o777, 0o1777], ids=["0777", "1777 like /run/lock"])
def test_a_directory_every_user_may_write_is_refused_naming_the_fix(tmp_path, mode):
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(mode)
    with pytest.raises(OperationRefused) as info:
        with hold(pairlock.lock_path(d, PAIR)):
            pytest.fail("held a lock in a world-writable directory")
    text = str(info.value)
    assert f"{d} is writable by every user (mode {mode:o})" in text, text
    assert "systemd-tmpfiles --create omapifo.conf" in text and "lock_dir" in text
    assert "nothing was sent" in text
    assert list(d.iterdir()) == []  # nothing made there either


@pytest.mark.parametrize("target_exists", [False, True], ids=["to nothing", "to a file"])
def test_a_symlink_is_replaced_and_its_target_never_opened_nor_made(lock_dir, tmp_path,
                                                                    target_exists):
    target = tmp_path / "victim"
    if target_exists:
        target.write_text("precious\n")
        target.chmod(0o600)
    path = pairlock.lock_path(lock_dir, PAIR)
    path.symlink_to(target)
    with hold(path):
        assert not path.is_symlink() and stat.S_ISREG(path.lstat().st_mode)
    if target_exists:
        assert target.read_text() == "precious\n"
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    else:
        assert not target.exists()  # open(O_CREAT) through the link would have made it


@pytest.mark.timeout(60)  # opened without O_NONBLOCK, a FIFO waits for a writer forever
def test_a_fifo_is_replaced_without_waiting_for_a_writer(lock_dir):
    path = pairlock.lock_path(lock_dir, PAIR)
    os.mkfifo(path)
    with hold(path):
        assert stat.S_ISREG(path.lstat().st_mode)


def test_a_hard_link_held_elsewhere_does_not_block_a_change(lock_dir, tmp_path):
    # a file of someone else's linked in under the lock's name, locked through its
    # other name: who trusted it would wait for its holder
    other = tmp_path / "elsewhere"
    other.write_text("")
    os.link(other, pairlock.lock_path(lock_dir, PAIR))
    with open(other) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with hold(pairlock.lock_path(lock_dir, PAIR), wait=2):
            assert pairlock.lock_path(lock_dir, PAIR).stat().st_nlink == 1
    assert other.exists() and other.stat().st_nlink == 1


@needs_root
def test_a_strangers_file_held_by_the_stranger_is_replaced(lock_dir):
    path = pairlock.lock_path(lock_dir, PAIR)
    path.write_text("")
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)  # nobody may not write lock_dir (0750)
    with open(path) as strangers:
        fcntl.flock(strangers, fcntl.LOCK_EX)
        with hold(path, wait=2):
            st = path.stat()
            assert st.st_uid == os.geteuid() and not os.path.samestat(
                st, os.fstat(strangers.fileno()))


@needs_root
def test_a_file_of_a_user_who_may_write_the_directory_is_kept(tmp_path):
    # nobody's primary group is nogroup: with the directory nogroup and group-writable,
    # a lock file nobody made is as good as any, and is shared, not replaced
    d = tmp_path / "group-shared"
    d.mkdir()
    os.chown(d, 0, NOBODY.pw_gid)
    d.chmod(0o2770)
    path = pairlock.lock_path(d, PAIR)
    path.write_text("")
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    before = path.stat()
    with hold(path):
        assert os.path.samestat(path.stat(), before)
    d.chmod(0o2750)  # the group may no longer write: now nobody's file is a stranger's
    with hold(path):
        assert path.stat().st_uid == 0


def test_the_default_directory_falls_back_to_the_users_own_while_it_is_missing(
        tmp_path, monkeypatch):
    monkeypatch.setattr(pairlock, "DEFAULT_LOCK_DIR", tmp_path / "run-omapifo")
    monkeypatch.setattr(pairlock, "FALLBACK_ROOT", tmp_path)
    own = tmp_path / f"omapifo-{os.geteuid()}"
    assert pairlock.resolve_dir(tmp_path / "run-omapifo") == (own, True)
    assert pairlock.resolve_dir(tmp_path / "configured") == (tmp_path / "configured", False)
    with hold(pairlock.lock_path(tmp_path / "run-omapifo", PAIR)):
        assert (own / "omapifo-classroom-1-6.lock").exists()
    assert stat.S_IMODE(own.stat().st_mode) == 0o700
    (tmp_path / "run-omapifo").mkdir()  # the directory appears: it is used from then on
    assert pairlock.resolve_dir(tmp_path / "run-omapifo") == (tmp_path / "run-omapifo", False)


def test_a_fallback_directory_that_is_a_symlink_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(pairlock, "DEFAULT_LOCK_DIR", tmp_path / "run-omapifo")
    monkeypatch.setattr(pairlock, "FALLBACK_ROOT", tmp_path)
    (tmp_path / "theirs").mkdir()
    (tmp_path / f"omapifo-{os.geteuid()}").symlink_to(tmp_path / "theirs")
    with pytest.raises(OperationRefused, match="a symbolic link: remove it"):
        with hold(pairlock.lock_path(tmp_path / "run-omapifo", PAIR)):
            pass
    assert list((tmp_path / "theirs").iterdir()) == []


@needs_root
def test_a_fallback_directory_another_user_made_first_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(pairlock, "DEFAULT_LOCK_DIR", tmp_path / "run-omapifo")
    monkeypatch.setattr(pairlock, "FALLBACK_ROOT", tmp_path)
    own = tmp_path / f"omapifo-{os.geteuid()}"
    own.mkdir(mode=0o700)
    os.chown(own, NOBODY.pw_uid, NOBODY.pw_gid)
    with pytest.raises(OperationRefused, match=r"is nobody's, mode 700, not this user's own: "
                                               r"remove it, or create /run/omapifo"):
        with hold(pairlock.lock_path(tmp_path / "run-omapifo", PAIR)):
            pass


@needs_root
def test_a_user_who_may_not_enter_the_directory_is_told_who_may(shared_dir):
    # as nobody, in a subprocess (root may enter every directory)
    d = shared_dir / "locks"
    d.mkdir()
    d.chmod(0o2770)  # mkdir(2) leaves out the setgid bit and applies the umask
    code = (f"from pathlib import Path; from omapifo import _pairlock as pairlock\n"
            f"with pairlock.hold(Path({str(d / 'omapifo-x.lock')!r}), pair='x', "
            f"operation='partner-down'): pass\n")
    proc = subprocess.run(["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
                           "--clear-groups", "--", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60)
    if "Permission denied" in proc.stderr and "omapifo" not in proc.stderr:
        pytest.skip(f"{sys.executable} cannot be run by nobody (a venv from /root's python?)")
    assert proc.returncode != 0
    assert (f"cannot open the pair's lock directory {d}: Permission denied (root:root, mode "
            "2770): only root and members of group root make changes on this host (other "
            "users: through the REST service, omapifo --api URL); nothing was sent") \
        in proc.stderr, proc.stderr
