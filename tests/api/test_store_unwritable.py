"""A store that cannot be written (issue 21): a full file system, and a read-only one at
start. Every change is refused with 503 and nothing is sent (dhcpd read again), reads go
on, and omapifo_store_writable says 0 for an alert (deploy/prometheus); a store that can
be written again takes changes again. The state directory is a small tmpfs of the test's
own, unmounted afterwards."""
from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from omapifo import FailoverPair, LeaseState, load_config
from omapifo.clients import servecli

from .conftest import OPERATOR, READER, auth, service_config, wait_for

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"
MAC = "02:00:00:21:00:02"  # this file's client (subnet 3)


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "2m") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (as the lab does)")
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                    str(where)], check=True, timeout=10)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=10)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:  # bounded by the tmpfs' size
            os.write(fd, bytes(65536))
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def writable(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return next(float(line.split()[-1]) for line in text.splitlines()
                if line.startswith("omapifo_store_writable "))


def lease_state(lab) -> LeaseState | None:  # noqa: ANN001
    with FailoverPair(lab.pair_config()) as fresh:  # dhcpd itself, read again
        return fresh.lease(mac=MAC).state


def test_a_full_store_refuses_changes_with_503_and_reads_go_on(healthy_lab, tmp_path):
    lab = healthy_lab
    with tmpfs(tmp_path / "state") as state:
        cfg = service_config(lab.config_path, tmp_path, state / "omapifo.sqlite3")
        url, run, stop, service = servecli.start_service(load_config(cfg), "127.0.0.1:0")
        thread = servecli.run_in_thread(run)
        try:
            assert wait_for(lambda: service.poller.last_pools(PAIR), 30)
            assert writable(url) == 1.0
            filler = fill(state)
            ip = lab.client(3, mac=MAC)  # a first lease lasts the MCLT (15 s): bind now
            release = f"{url}/api/v1/pairs/{PAIR}/leases/{ip}/release"
            r = requests.post(release, json={"confirm": PAIR}, headers=auth(OPERATOR),
                              timeout=30)
            assert r.status_code == 503, r.text
            assert r.headers["Content-Type"] == "application/problem+json"
            assert "nothing was sent" in r.json()["detail"]
            assert lease_state(lab) is LeaseState.ACTIVE
            assert writable(url) == 0.0
            # reads go on: the cached and a fresh state, the audit trail, the history
            for path in (f"/api/v1/pairs/{PAIR}", f"/api/v1/pairs/{PAIR}?fresh=1",
                         "/api/v1/audit", f"/api/v1/pairs/{PAIR}/history"):
                got = requests.get(url + path, headers=auth(OPERATOR), timeout=30)
                assert got.status_code == 200, (path, got.text)
            filler.unlink()  # room again: the poller's probe sees it, changes go through
            assert wait_for(lambda: writable(url) == 1.0, 20), "still 0 with room again"
            ip = lab.client(3, mac=MAC)
            done = requests.post(release, json={"confirm": PAIR}, headers=auth(OPERATOR),
                                 timeout=30)
            assert done.status_code == 200, done.text
            assert lease_state(lab) is not LeaseState.ACTIVE
        finally:
            stop()
            thread.join(10)


def test_a_read_only_store_at_start_serves_reads_and_refuses_changes(healthy_lab, tmp_path):
    lab = healthy_lab
    with tmpfs(tmp_path / "state") as state:
        cfg = service_config(lab.config_path, tmp_path, state / "omapifo.sqlite3")
        config = load_config(cfg)
        # one change on record, then the file system goes read-only (errors=remount-ro)
        url, run, stop, _ = servecli.start_service(config, "127.0.0.1:0")
        thread = servecli.run_in_thread(run)
        try:
            dry = requests.post(f"{url}/api/v1/pairs/{PAIR}/peers/secondary/partner-down"
                                "?dry_run=true", json={"confirm": PAIR},
                                headers=auth(OPERATOR), timeout=30)
            assert dry.status_code in (200, 409), dry.text
        finally:
            stop()
            thread.join(10)
        subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True, timeout=10)
        url, run, stop, service = servecli.start_service(config, "127.0.0.1:0")
        thread = servecli.run_in_thread(run)
        try:
            assert service.store.read_only
            assert wait_for(lambda: service.poller.cached(PAIR), 10)
            entries = requests.get(f"{url}/api/v1/audit", headers=auth(OPERATOR),
                                   timeout=10).json()["entries"]
            assert [(e["actor"], e["action"]) for e in entries] == [("alice", "partner-down")]
            st = requests.get(f"{url}/api/v1/pairs/{PAIR}?fresh=1", headers=auth(READER),
                              timeout=30)
            assert st.status_code == 200 and st.json()["primary"]["reachable"]
            r = requests.post(f"{url}/api/v1/pairs/{PAIR}/peers/secondary/partner-down"
                              "?dry_run=true", json={"confirm": PAIR},
                              headers=auth(OPERATOR), timeout=30)
            assert r.status_code == 503 and "cannot be written" in r.json()["detail"], r.text
            assert writable(url) == 0.0
        finally:
            stop()
            thread.join(10)
