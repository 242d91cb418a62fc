"""This host made like a production one, for tests/test_production.py and for
docs/install.md's examples (tests/test_docs.py runs them as the users they name).

What production has that the lab alone has not: the system users ``omapifo`` (the
service) and ``nagios`` (the check), systemd's default sysctls ``fs.protected_regular=1``
and ``fs.protected_symlinks=1`` (0 on these VMs), ``/run/omapifo`` made by the shipped
deploy/tmpfiles/omapifo.conf, and the files of the permission model written once in
the unit's header comment (:func:`permission_model`). ``nobody`` is the other local
user, who must be kept out.

:func:`production_host` sets it up and undoes exactly what it did, pass or fail: the
users it created (not ones that were there), the sysctls' previous values, /run/omapifo
when it made it. Those are host-wide, so one test session at a time holds them
(:data:`HOST_LOCK`); another waits for it.
"""
from __future__ import annotations

import fcntl
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from omapifo.api.auth import digest

from .api.conftest import wait_for
from .api.test_actions import free_port
from .conftest import IN_CI

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "deploy" / "systemd" / "omapifo.service"
TMPFILES = REPO / "deploy" / "tmpfiles" / "omapifo.conf"
HOST_LOCK = Path("/run/omapifo-production-tests.lock")
HOST_WAIT = 1800.0  # seconds another session may hold the host (its whole production run)
SYSCTLS = {"fs.protected_regular": "1", "fs.protected_symlinks": "1"}  # systemd's defaults
SERVICE_USER, NAGIOS_USER, STRANGER = "omapifo", "nagios", "nobody"
RUN_DIR = Path("/run/omapifo")
USERS = {  # useradd's arguments, as docs/install.md creates them
    SERVICE_USER: ["--home-dir", "/var/lib/omapifo"],
    NAGIOS_USER: ["--home-dir", "/var/lib/nagios"],
}


@dataclass(frozen=True)
class Row:
    """One path of the permission model."""

    path: str
    owner: str
    group: str
    mode: int
    note: str


_ROW = re.compile(r"^(/\S*)\s+(\w+):(\w+)\s+(0[0-7]{3}|[0-7]{4})\s+(.*)$")


def model_lines(text: str | None = None) -> list[str]:
    """The permission model of the unit's header comment (``text``: another copy of the
    unit), the lines under "Users and permissions" up to the first that is not indented,
    each with its runs of spaces made one: docs/install.md and docs/systemd.md hold the
    same lines (tests/test_systemd_unit.py compares)."""
    text = UNIT.read_text() if text is None else text
    header = text[:text.index("[Unit]")]
    out = []
    for raw in header[header.index("# Users and permissions"):].splitlines()[1:]:
        if not raw.startswith("#   "):
            break
        out.append(" ".join(raw.lstrip("#").split()))
    return out


def permission_model(text: str | None = None) -> list[Row]:
    """The model's path rows."""
    return [Row(m[1], m[2], m[3], int(m[4], 8), m[5])
            for m in map(_ROW.match, model_lines(text)) if m]


def setpriv(user: str) -> list[str]:
    """The argv prefix that runs a command as ``user`` with its groups (setpriv(1), no PAM:
    what systemd's User= does, without a login)."""
    pw = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"]


@dataclass
class Host:
    """The production-shaped host, while :func:`production_host` holds it."""

    work: Path  # root's, mode 0755: every user may reach what is put here
    bin: Path  # the omapifo under test (its venv's bin directory)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "PATH": f"{self.bin}:{os.environ.get('PATH', '')}",
                "HOME": str(self.work), **extra}

    def run(self, user: str, argv: list[str], *, umask: int = 0o022, check: bool = False,
            env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``argv`` as ``user`` (root: as it is), with ``umask``; output captured."""
        prefix = [] if user == "root" else setpriv(user)
        proc = subprocess.run(prefix + argv, env=env or self.env(), cwd=cwd or self.work,
                              capture_output=True, text=True, timeout=timeout, umask=umask)
        if check:
            assert proc.returncode == 0, (user, argv, proc.stdout, proc.stderr)
        return proc


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root: creates system users and sets sysctls"
    for tool in ("setpriv", "useradd", "userdel", "systemd-tmpfiles", "sysctl"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"needs {tool} (Debian: util-linux, passwd, systemd, procps)"
    if not Path("/proc/sys/fs/protected_regular").exists():
        return "the kernel has no fs.protected_regular"
    return None


def require_host() -> None:
    reason = _unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"production-shaped tests never skip in CI: {reason}")
        pytest.skip(reason)


def _sbin(tool: str) -> str:
    return shutil.which(tool) or f"/usr/sbin/{tool}"


@contextmanager
def _host_lock() -> Iterator[None]:
    with open(HOST_LOCK, "a") as fh:
        deadline = time.monotonic() + HOST_WAIT
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test session held {HOST_LOCK} for over "
                                f"{HOST_WAIT:g} s")
                time.sleep(0.5)
        yield  # closing the file releases it


def _sysctl(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


@contextmanager
def production_host() -> Iterator[Host]:
    """Users, sysctls, /run/omapifo and a shared directory; all undone afterwards."""
    require_host()
    created: list[str] = []
    old: dict[str, str] = {}
    made_run_dir = False
    work = Path(tempfile.mkdtemp(prefix="omapifo-production-"))
    with _host_lock():
        try:
            work.chmod(0o755)
            for user, args in USERS.items():
                try:
                    pwd.getpwnam(user)
                except KeyError:
                    subprocess.run([_sbin("useradd"), "--system", "--user-group",
                                    "--no-create-home", "--shell", "/usr/sbin/nologin",
                                    *args, user], check=True, capture_output=True,
                                   timeout=60)
                    created.append(user)
            for name, value in SYSCTLS.items():
                old[name] = _sysctl(name).read_text().strip()
                _sysctl(name).write_text(value)
            made_run_dir = not os.path.lexists(RUN_DIR)
            # the shipped snippet, as systemd-tmpfiles-setup.service applies it at boot
            # (on an existing directory it sets the owner and mode it names)
            subprocess.run(["systemd-tmpfiles", "--create", str(TMPFILES)], check=True,
                           capture_output=True, text=True, timeout=60)
            host = Host(work, Path(sys.executable).parent)
            probe = host.run(SERVICE_USER, [sys.executable, "-c", "import omapifo.clients.cli"])
            if probe.returncode != 0:
                reason = (f"{sys.executable} cannot be run by {SERVICE_USER} (a venv made "
                          "from a python under /root? make venv uses /usr/bin/python3): "
                          f"{probe.stderr.strip()[-300:]}")
                if IN_CI:
                    pytest.fail(reason)
                pytest.skip(reason)
            yield host
        finally:
            for name, value in old.items():
                _sysctl(name).write_text(value)
            if made_run_dir:
                shutil.rmtree(RUN_DIR, ignore_errors=True)
            for user in reversed(created):
                subprocess.run([_sbin("userdel"), user], capture_output=True, timeout=60)
                try:
                    grp.getgrnam(user)
                except KeyError:
                    continue
                subprocess.run([_sbin("groupdel"), user], capture_output=True, timeout=60)
            shutil.rmtree(work, ignore_errors=True)


def service_toml(reader: str, operator: str) -> str:
    """A [service] section with a reader token (Nagios') and an operator token."""
    return (f'\n[service]\npoll_interval = 1.0\n'
            f'[[service.tokens]]\nname = "nagios"\nrole = "reader"\n'
            f'sha256 = "{digest(reader)}"\n'
            f'[[service.tokens]]\nname = "alice"\nrole = "operator"\n'
            f'sha256 = "{digest(operator)}"\n')


def install_per_model(root: Path, lab_dir: Path, *, reader_token: str,
                      extra_toml: str = "") -> dict[str, Path]:
    """The ops host's files, under ``root`` (its /etc/omapifo is root/etc/omapifo and so
    on), made from the lab's and given the owners and modes of the unit's model.
    /run/omapifo is the real one: checked, not made. Returns the paths by name."""
    etc = root / "etc" / "omapifo"
    etc.mkdir(parents=True)
    shutil.copyfile(lab_dir / "omapi.key", etc / "omapi.key")
    for role, name in (("primary", "dhcp1"), ("secondary", "dhcp2")):
        (etc / name).mkdir()
        for f in (lab_dir / role).glob("dhcpd.conf*"):  # the conf, its include and the link
            if f.is_symlink():
                (etc / name / f.name).symlink_to(os.readlink(f))
            else:
                shutil.copyfile(f, etc / name / f.name)
    with open(lab_dir / "omapifo.toml", "rb") as fh:
        lab_pair = tomllib.load(fh)["pairs"]["classroom-1-6"]
    pair = {k: lab_pair[k] for k in ("primary", "secondary", "key_name", "algorithm")}
    (etc / "omapifo.toml").write_text(
        "# no lock_dir: the default, /run/omapifo\n"
        "[pairs.classroom-1-6]\n" + "".join(f'{k} = "{v}"\n' for k, v in pair.items()) +
        f'key_file = "{etc}/omapi.key"\n'
        f'dhcpd_conf = "{etc}/dhcp1/dhcpd.conf"\n'
        f'secondary_dhcpd_conf = "{etc}/dhcp2/dhcpd.conf"\n' + extra_toml)
    nagios = root / "etc" / "nagios"
    nagios.mkdir()
    (nagios / "omapifo.token").write_text(reader_token + "\n")
    (root / "var" / "lib" / "omapifo").mkdir(parents=True)  # systemd's StateDirectory=
    for row in permission_model():
        uid, gid = pwd.getpwnam(row.owner).pw_uid, grp.getgrnam(row.group).gr_gid
        if row.path.startswith(str(RUN_DIR)):
            st = RUN_DIR.stat()
            assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, row.mode), \
                f"{RUN_DIR} is not as the model says: {row}"
            continue
        targets = sorted(root.glob(row.path.lstrip("/").rstrip("/") or "."))
        assert targets, f"the model names {row.path}, which this install does not make"
        for target in targets:
            if target.is_symlink():
                continue
            os.chown(target, uid, gid)
            target.chmod(row.mode)
    return {"etc": etc, "config": etc / "omapifo.toml", "key": etc / "omapi.key",
            "dhcpd_conf": etc / "dhcp1" / "dhcpd.conf", "token": nagios / "omapifo.token",
            "state": root / "var" / "lib" / "omapifo"}


class Service:
    """``omapifo serve`` as the unit runs it: as omapifo, UMask=0077, $STATE_DIRECTORY,
    the configuration of :func:`install_per_model`; stopped by its pid."""

    def __init__(self, host: Host, files: dict[str, Path]) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = files["state"].parent / "serve.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                setpriv(SERVICE_USER) + [str(host.bin / "omapifo"), "-c", str(files["config"]),
                                         "serve", "--listen", self.url.removeprefix("http://")],
                env=host.env(STATE_DIRECTORY=str(files["state"])), cwd="/", umask=0o077,
                stdout=subprocess.DEVNULL, stderr=log)

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=5).json()["polls"] >= 1
        except (requests.RequestException, ValueError, KeyError):
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextmanager
def running_service(host: Host, files: dict[str, Path]) -> Iterator[Service]:
    svc = Service(host, files)
    try:
        assert wait_for(svc.ready, timeout=60), svc.log.read_text()
        yield svc
    finally:
        svc.stop()
