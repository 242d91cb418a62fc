"""omapifo._pools on the real pair: live counts, offline counts, dhcpd-pools, a large scan."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

import pytest

from omapifo import FailoverPair, FailoverState, Role, pools_from_files

from .conftest import restore

pytestmark = pytest.mark.integration


def snapshot(lab, tmp_path, role=Role.PRIMARY):
    """The server's files copied at one moment, so both readers see the same bytes."""
    d = tmp_path / "snapshot"
    shutil.copytree(lab.server_dir(role), d, symlinks=True)
    return d


def dhcpd_pools(directory) -> dict[str, dict]:
    """dhcpd-pools' JSON per range, run where dhcpd runs (relative includes, as dhcpd)."""
    proc = subprocess.run(["dhcpd-pools", "-c", "dhcpd.conf", "-l", "dhcpd.leases", "-f", "j"],
                          cwd=directory, capture_output=True, text=True, check=True, timeout=120)
    return {r["range"]: r for r in json.loads(proc.stdout)["subnets"]}


def test_counts_after_a_handful_of_leases_match_dhcpd_pools_and_the_live_scan(
        healthy_lab, pair, tmp_path):
    lab = healthy_lab
    got = [lab.client(n, mac=f"02:00:00:dd:{n:02x}:{i:02x}") for n in (1, 2, 3) for i in (1, 2)]
    assert len(set(got)) == 6
    # dhcpd appends to dhcpd.leases as binding updates arrive: wait (bounded) until the
    # file and the live view tell the same, then compare everything on one snapshot
    deadline = time.monotonic() + 15
    while True:
        live = pair.pools()
        snap = snapshot(lab, tmp_path)
        offline = pools_from_files(snap / "dhcpd.conf", snap / "dhcpd.leases")
        same = [(p.active, p.free + p.backup) for p in live.pools] == \
            [(p.active, p.free + p.backup + p.unknown) for p in offline.pools]
        if same or time.monotonic() > deadline:
            break
        shutil.rmtree(snap)
        time.sleep(0.5)
    assert live.complete and live.source == "omapi" and not live.errors
    reference = dhcpd_pools(snap)
    # leases last one MCLT (15 s in the test lab), so some may already have expired
    assert sum(p.active + p.expired for p in live.pools) >= 1
    for on, off in zip(live.pools, offline.pools, strict=True):
        ref = reference[f"{on.ranges[0][0]} - {on.ranges[0][1]}"]
        assert (off.total, off.active) == (ref["defined"], ref["used"]), (off, ref)
        assert off.free + off.expired + off.released + off.abandoned + off.reset \
            == ref["touched"], (off, ref)
        assert ref["free"] == off.total - off.active
        # dhcpd writes only leases that changed to dhcpd.leases ("Wrote 64 leases" for
        # 128 pool addresses, measured): an address missing from the file is free or
        # backup in dhcpd's memory, so the file's unknowns belong to those two
        assert (on.total, on.active, on.free + on.backup) == \
            (off.total, off.active, off.free + off.backup + off.unknown), (on, off)
        assert on.disagreements == 0
        assert on.runway == {"primary": on.free, "secondary": on.backup}


def test_scanning_the_large_pool_while_clients_ask_keeps_both_servers_normal(large_lab):
    lab = large_lab
    addresses = []
    errors = []

    def clients() -> None:
        try:
            for i in range(4):  # bounded: four real DHCP exchanges during the scan
                addresses.append(lab.client(4, mac=f"02:00:00:ee:00:{i:02x}"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with FailoverPair(lab.pair_config()) as pair:
        t = threading.Thread(target=clients)
        t.start()
        report = pair.pools()
        t.join(timeout=120)
        big = max(report.pools, key=lambda p: p.total)
        assert big.total == 16381 and report.complete and not report.errors
        assert big.free + big.backup + big.active + big.expired + big.released >= 16300
        assert not errors and len(addresses) == 4
        st = pair.state()
        assert st.primary.local_state is FailoverState.NORMAL
        assert st.secondary.local_state is FailoverState.NORMAL
        assert lab.running(Role.PRIMARY) and lab.running(Role.SECONDARY)


def test_dhcpd_restarted_mid_scan_is_an_error_never_partial_counts(large_lab):
    lab = large_lab
    cfg = lab.pair_config()
    with FailoverPair(cfg) as pair:
        addresses = sum(p.size for p in pair.dhcpd_conf().pools)
        stopped = []

        def progress(done: int, total: int) -> None:  # reported by the primary's scan
            if done >= 4096 and not stopped:
                stopped.append(done)
                lab.stop(Role.PRIMARY)

        try:
            report = pair.pools(rate=20000, progress=progress)
            assert stopped
            # the primary's scan failed as a whole; the counts are the secondary's, of
            # every address, and the report says it lacks the primary's view
            assert Role.PRIMARY in report.errors and not report.complete
            assert f"of {addresses} addresses" in report.errors[Role.PRIMARY]  # where it broke
            assert Role.SECONDARY not in report.errors
            assert sum(p.total for p in report.pools) == addresses
        finally:
            restore(lab)
