"""Two failover peers between the same two servers: two pairs, each with its own pools."""
from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time

import pytest

from omapifo import FailoverPair, FailoverState, Role, load_config

from .conftest import build_lab

pytestmark = pytest.mark.integration

PEERS = ("classroom-1-6", "classroom-2")


@pytest.fixture(scope="module")
def two_peer_lab(tmp_path_factory):
    yield from build_lab(tmp_path_factory, "p", second_peer=True)


def test_both_relationships_reach_normal_and_each_pair_counts_its_own_pools(
        two_peer_lab, tmp_path):
    lab = two_peer_lab
    config = load_config(lab.config_path)
    assert sorted(config.pairs) == sorted(PEERS)
    states = {}
    for name in PEERS:
        with FailoverPair(config.pairs[name]) as pair:
            st = pair.state()
        assert st.primary.status and st.secondary.status
        assert st.primary.status.name == st.secondary.status.name == name
        states[name] = st
        assert (st.primary.local_state, st.secondary.local_state) == (
            FailoverState.NORMAL, FailoverState.NORMAL)
    # two relationships between the same servers, on their own failover ports
    assert states["classroom-1-6"].primary.status.local_port == 519
    assert states["classroom-2"].primary.status.local_port == 647

    got = {n: lab.client(n, mac=f"02:00:00:ee:{n:02x}:01") for n in (1, 3)}
    assert all(ipaddress.IPv4Address(got[n]) in lab.layout.client_net(n) for n in got)
    reports = {}
    deadline = time.monotonic() + 15
    for name in PEERS:
        with FailoverPair(config.pairs[name]) as pair:
            while True:  # the binding updates reach both peers within moments
                rep = pair.pools()
                if all(p.disagreements == 0 for p in rep.pools) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert rep.complete and rep.pair == name
        reports[name] = rep
    assert {p.failover_peer for p in reports["classroom-1-6"].pools} == {"classroom-1-6"}
    assert {p.failover_peer for p in reports["classroom-2"].pools} == {"classroom-2"}
    low3, high3 = lab.layout.client_range(3)
    assert [p.ranges for p in reports["classroom-2"].pools] == [((low3, high3),)]
    assert [p.ranges[0][0] for p in reports["classroom-1-6"].pools] == [
        lab.layout.client_range(n)[0] for n in (1, 2, 4)]
    # leases last one MCLT (15 s): the client's lease is active, or expired by now
    two = reports["classroom-2"].pools[0]
    assert two.active + two.expired >= 1 and two.disagreements == 0
    assert two.runway == {"primary": two.free, "secondary": two.backup}

    # dhcpd-pools reads the same files: per range, the same sizes, every range in
    # exactly one pair's report
    snap = tmp_path / "snapshot"
    shutil.copytree(lab.server_dir(Role.PRIMARY), snap, symlinks=True)
    proc = subprocess.run(["dhcpd-pools", "-c", "dhcpd.conf", "-l", "dhcpd.leases", "-f", "j"],
                          cwd=snap, capture_output=True, text=True, check=True, timeout=60)
    reference = {r["range"]: r for r in json.loads(proc.stdout)["subnets"]}
    ours = {f"{p.ranges[0][0]} - {p.ranges[0][1]}": p
            for rep in reports.values() for p in rep.pools}
    assert len(ours) == sum(len(rep.pools) for rep in reports.values())  # no pool twice
    assert ours.keys() == reference.keys()
    for rng, ref in reference.items():
        assert ours[rng].total == ref["defined"], (rng, ours[rng], ref)
        assert ours[rng].active <= ref["defined"]
