"""omapifo on a host shaped like production (tests/production.py): the service as the
system user omapifo, root's command line, the Nagios check as nagios, under systemd's
default sysctls (fs.protected_regular=1, fs.protected_symlinks=1), with /run/omapifo made
by the shipped tmpfiles.d snippet and every file owned and moded as the unit's permission
model says, against the lab pair.

What issue 22 measured before: the service's lock file in /run/lock locked root's
partner-down out ("Permission denied"), and the reverse. Here both orders make a real
partner-down, checked on dhcpd with a fresh read; files another user planted in the
lock directory neither block nor redirect one; each user can do its job and nobody
else can read the key.
"""
from __future__ import annotations

import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from omapifo import FailoverState, Role

from .api.conftest import OPERATOR, READER, auth, wait_for
from .conftest import fresh_state
from .production import (NAGIOS_USER, RUN_DIR, SERVICE_USER, STRANGER, Host, Service,
                         install_per_model, production_host, service_toml, setpriv)

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"
LOCK = RUN_DIR / f"omapifo-{PAIR}.lock"
CI = FailoverState.COMMUNICATIONS_INTERRUPTED
PD = FailoverState.PARTNER_DOWN


@pytest.fixture(scope="module")
def host(lab) -> Iterator[Host]:
    with production_host() as h:
        yield h


@pytest.fixture(scope="module")
def files(host, lab) -> dict[str, Path]:
    return install_per_model(host.work, lab.dir, reader_token=READER,
                             extra_toml=service_toml(READER, OPERATOR))


class ProductionService(Service):
    def partner_down(self, *, dry_run: bool) -> requests.Response:
        return requests.post(
            f"{self.url}/api/v1/pairs/{PAIR}/peers/secondary/partner-down",
            params={"dry_run": "1"} if dry_run else None, headers=auth(OPERATOR),
            json={"confirm": PAIR, "reason": "test_production"}, timeout=60)


@pytest.fixture(scope="module")
def service(host, files) -> Iterator[ProductionService]:
    svc = ProductionService(host, files)
    try:
        assert wait_for(svc.ready, timeout=60), svc.log.read_text()
        yield svc
    finally:
        svc.stop()


def root_cli(host: Host, files: dict[str, Path], *args: str,
             config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """root's ``omapifo``, with an admin's umask 077 (its lock file must still open for
    the service)."""
    return host.run("root", [str(host.bin / "omapifo"), "-c", str(config or files["config"]),
                             *args], umask=0o077,
                    env=host.env(OMAPIFO_AUDIT_LOG=str(host.work / "root-audit.log")))


def partner_down_by_root(host, files, *extra: str, config: Path | None = None):
    return root_cli(host, files, "partner-down", PAIR, "secondary", "--yes", "--reason",
                    "test_production", *extra, config=config)


@pytest.fixture
def primary_stopped(healthy_lab) -> Iterator:
    """The primary's dhcpd stopped and the secondary communications-interrupted; the lock
    file removed first, so each test decides who makes it."""
    LOCK.unlink(missing_ok=True)
    healthy_lab.stop(Role.PRIMARY)
    healthy_lab.wait_states(None, CI, timeout=60)
    yield healthy_lab
    LOCK.unlink(missing_ok=True)


def owner(path: Path) -> str:
    return pwd.getpwuid(path.lstat().st_uid).pw_name


def test_the_host_is_shaped_like_production(host, files):
    assert Path("/proc/sys/fs/protected_regular").read_text().strip() == "1"
    assert Path("/proc/sys/fs/protected_symlinks").read_text().strip() == "1"
    st = RUN_DIR.stat()
    assert (owner(RUN_DIR), stat.S_IMODE(st.st_mode)) == (SERVICE_USER, 0o2770)
    assert not st.st_mode & (stat.S_IWOTH | stat.S_ISVTX)
    assert stat.S_IMODE(files["key"].stat().st_mode) == 0o640


def test_each_user_does_its_job_and_no_other_reads_the_key(host, files, service, healthy_lab):
    # the service (omapifo) read its configuration and the key: it polls the pair
    r = requests.get(f"{service.url}/api/v1/pairs/{PAIR}", headers=auth(READER), timeout=30)
    assert r.status_code == 200 and r.json()["health"]["level"] == "ok", r.text
    # root's command line reads them too
    proc = root_cli(host, files, "status", PAIR)
    assert proc.returncode == 0, proc.stderr
    # nagios runs the check through the service, with the reader token only it may read
    proc = host.run(NAGIOS_USER, [str(host.bin / "omapifo"), "check", PAIR, "--api",
                                  service.url, "--token-file", str(files["token"])])
    assert proc.returncode == 0 and proc.stdout.startswith("OMAPIFO OK - "), proc
    # ... and may read nothing of omapifo's; nobody reads neither that nor the token
    secrets = [files["key"], files["config"], files["dhcpd_conf"]]
    for user, paths in ((NAGIOS_USER, secrets), (STRANGER, [*secrets, files["token"]])):
        for path in paths:
            proc = host.run(user, ["cat", str(path)])
            assert proc.returncode != 0 and "Permission denied" in proc.stderr, (user, path)
    proc = host.run(NAGIOS_USER, [str(host.bin / "omapifo"), "-c", str(files["config"]),
                                  "status", PAIR])
    assert proc.returncode == 2 and "Permission denied" in proc.stderr, proc
    # the service's own state directory is its alone
    proc = host.run(NAGIOS_USER, ["ls", str(files["state"])])
    assert proc.returncode != 0


def test_no_other_user_can_make_anything_in_the_lock_directory(host, service):
    for user in (STRANGER, NAGIOS_USER):
        for argv in (["touch", str(LOCK)], ["ln", "-s", "/etc/shadow", str(LOCK)],
                     ["mkfifo", str(LOCK)], ["ls", str(RUN_DIR)]):
            proc = host.run(user, argv)
            assert proc.returncode != 0 and "Permission denied" in proc.stderr, (user, argv)
    assert not os.path.lexists(LOCK) or owner(LOCK) in ("root", SERVICE_USER)


# Two real partner-downs in all, each followed by the primary's recovery: every stop,
# partner-down and recovery of the lab costs up to a minute, and the primary's dhcpd 4.4.3
# once died on its way back (startup -> recover, "Impossible case at failover.c:6318",
# seen once in five runs of an earlier version with four). So each test below checks
# several things in one stop of the primary.


def test_the_service_first_then_root_with_a_planted_symlink_and_a_shared_lock_dir(
        host, files, service, primary_stopped):
    r = service.partner_down(dry_run=True)
    assert r.status_code == 200 and r.json()["dry_run"], r.text
    # the service made the lock file, under its UMask=0077: still 0644 for root's sake
    assert owner(LOCK) == SERVICE_USER and stat.S_IMODE(LOCK.stat().st_mode) == 0o644
    # what issue 22 measured in /run/lock: root's dry run after the service's change
    proc = partner_down_by_root(host, files, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert owner(LOCK) == SERVICE_USER  # the same file, shared

    # the old default, /run/lock (1777), configured: refused, nothing made, nothing sent
    shared = host.work / "lock"
    shared.mkdir()
    shared.chmod(0o1777)
    config = host.work / "old-lock-dir.toml"
    config.write_text(files["config"].read_text().replace(
        "# no lock_dir: the default, /run/omapifo\n", f'lock_dir = "{shared}"\n'))
    os.chown(config, 0, files["config"].stat().st_gid)
    config.chmod(0o640)
    proc = partner_down_by_root(host, files, config=config)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{shared} is writable by every user (mode 1777)" in proc.stderr, proc.stderr
    assert "systemd-tmpfiles --create omapifo.conf" in proc.stderr
    assert list(shared.iterdir()) == []
    assert fresh_state(primary_stopped).secondary.local_state is CI  # nothing was sent

    # a symlink in place of the lock file: only root and omapifo may write /run/omapifo,
    # so it stands for one either made by mistake. Followed, root's open(O_CREAT) would
    # make (or open) its target: outside a sticky world-writable directory
    # fs.protected_symlinks does not stop that
    victim = host.work / "victim"
    LOCK.unlink()
    LOCK.symlink_to(victim)
    proc = partner_down_by_root(host, files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not os.path.lexists(victim)
    assert not LOCK.is_symlink() and owner(LOCK) == "root"
    assert fresh_state(primary_stopped).secondary.local_state is PD


def test_root_first_then_the_service_with_a_strangers_file_held_by_the_stranger(
        host, files, service, primary_stopped):
    # root, with an admin's umask 077, goes first: its lock file is 0644 all the same
    proc = partner_down_by_root(host, files, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert owner(LOCK) == "root" and stat.S_IMODE(LOCK.stat().st_mode) == 0o644
    r = service.partner_down(dry_run=True)  # the reverse of issue 22's measurement
    assert r.status_code == 200 and r.json()["dry_run"], r.text

    # the worst a stranger could have: its own file under the lock's name (left from a
    # time it could write there), flocked by a process of its own. Root hands it the
    # descriptor: nobody may not even enter /run/omapifo.
    LOCK.unlink()
    LOCK.write_text("")
    nobody = pwd.getpwnam(STRANGER)
    os.chown(LOCK, nobody.pw_uid, nobody.pw_gid)
    fd = os.open(LOCK, os.O_RDONLY)
    try:
        holder = subprocess.Popen(
            setpriv(STRANGER) + ["python3", "-c", (
                f"import fcntl, sys; fcntl.flock({fd}, fcntl.LOCK_EX); print('held', "
                "flush=True); sys.stdin.read()")],
            pass_fds=[fd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=host.env())
    finally:
        os.close(fd)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = service.partner_down(dry_run=False)  # trusting the file: ActionBusy after 30 s
        assert r.status_code == 200 and r.json()["done"], r.text
        assert owner(LOCK) == SERVICE_USER and holder.poll() is None
        assert fresh_state(primary_stopped).secondary.local_state is PD
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
