"""Fixtures for the lab: one real dhcpd failover pair per test session.

Integration tests (marked ``integration``) use the ``lab`` fixture, which builds the
seed's classroom in network namespaces with ``omapifo.lab`` and always takes it down,
also when tests fail. In CI (CI=true) a lab that cannot start fails the run; locally,
without root or the Debian packages, integration tests skip with the reason.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from omapifo import FailoverPair, JsonLinesAudit, Role
from omapifo import lab as labmod
from omapifo.lab import LabError

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_PREFIX = re.compile(r"^t\d+[a-z0-9]*$")


def lab_unavailable() -> str | None:
    try:
        labmod.check_prerequisites()
    except LabError as exc:
        return str(exc)
    return None


def require_lab() -> None:
    reason = lab_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"integration tests never skip in CI: {reason}")
        pytest.skip(reason)


def open_fds() -> int:
    """This process's open file descriptors (leak checks)."""
    return len(os.listdir("/proc/self/fd"))


def _down_stale_test_labs() -> None:
    """Take down test labs left by a test run that was killed (its owner pid is gone)."""
    for record in labmod.REGISTRY.glob("t*.json"):
        prefix = record.stem
        if not TEST_PREFIX.match(prefix):
            continue
        try:
            owner = labmod.Lab.load(prefix).record.owner
        except (LabError, ValueError, KeyError):
            continue
        if owner and not os.path.exists(f"/proc/{owner}"):
            labmod.down(prefix)


def build_lab(tmp_path_factory: pytest.TempPathFactory, name: str,
              **settings: object) -> Iterator[labmod.Lab]:
    require_lab()
    _down_stale_test_labs()
    prefix = f"t{os.getpid() % 100000}{name}"[:12]
    # mclt 15: recover-wait lasts one MCLT, and several tests restart a server
    settings.setdefault("mclt", 15)
    lab = labmod.Lab.create(labmod.LabSettings(prefix=prefix, **settings),  # type: ignore[arg-type]
                            tmp_path_factory.mktemp(f"lab-{name or 'main'}"))
    try:
        lab.up(timeout=90)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labmod.Lab]:
    """The session's lab pair, started once; tests that break it use ``healthy_lab``."""
    yield from build_lab(tmp_path_factory, "")


def restore(lab: labmod.Lab) -> None:
    """Both servers running and normal again (after a test stopped one)."""
    for role in Role:
        if not lab.running(role):
            lab.start(role, wait=False)
    lab.wait_normal(timeout=120)


@pytest.fixture
def healthy_lab(lab: labmod.Lab) -> Iterator[labmod.Lab]:
    """The lab with both servers normal before the test, and again after it."""
    restore(lab)
    yield lab
    restore(lab)


@pytest.fixture
def audit_log(tmp_path) -> JsonLinesAudit:
    """The audit trail of the library-level actions of one test."""
    return JsonLinesAudit(tmp_path / "audit.log")


@pytest.fixture
def pair(lab: labmod.Lab, audit_log: JsonLinesAudit) -> Iterator[FailoverPair]:
    with FailoverPair(lab.pair_config(), audit=audit_log) as p:
        yield p
