"""omapifo.lab: the seed's classroom, built for real (issue: lab and CI)."""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess

import pytest

from omapifo import FailoverPair, FailoverState, Role
from omapifo import lab as labmod
from omapifo.lab import LabError
from omapifo.clients import cli

from .conftest import build_lab, restore

pytestmark = pytest.mark.integration


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def in_range(lab: labmod.Lab, n: int, address: str) -> bool:
    low, high = lab.layout.client_range(n)
    ip = ipaddress.IPv4Address
    return ip(low) <= ip(address) <= ip(high)


def test_up_reaches_normal_on_both(lab, pair):
    st = pair.state()
    assert st.primary.local_state is FailoverState.NORMAL
    assert st.secondary.local_state is FailoverState.NORMAL
    assert st.primary.partner_state is FailoverState.NORMAL


def test_configuration_written_the_seeds_way(lab):
    for role in Role:
        d = lab.server_dir(role)
        link = d / "dhcpd.conf-failover"
        assert link.is_symlink() and os.readlink(link) == f"dhcpd.conf-failover-{role}"
        assert (d / "dhcpd.conf-failover-primary").exists()
        assert (d / "dhcpd.conf-failover-secondary").exists()
        conf = lab.conf_path(role).read_text()
        assert 'include "dhcpd.conf-failover";' in conf
        assert conf.count("deny dynamic bootp clients;") == 4
        assert conf.count(f'failover peer "{lab.settings.peer_name}";') == 4
    assert oct(lab.key_path.stat().st_mode & 0o777) == "0o600"
    every = [ipaddress.IPv4Address(a) for a in lab.conf_path(Role.PRIMARY).read_text().split()
             if a.count(".") == 3 and a.rstrip(";").replace(".", "").isdigit()
             for a in [a.rstrip(";")]]
    addresses = [a for a in every if not str(a).startswith("255.")]  # netmasks aside
    assert addresses and all(a in labmod.LAB_NET for a in addresses)


def test_all_four_subnets_get_addresses_with_both_up_and_with_the_primary_stopped(healthy_lab):
    lab = healthy_lab
    for n in range(1, 5):
        assert in_range(lab, n, lab.client(n))
    lab.stop(Role.PRIMARY)
    assert not lab.running(Role.PRIMARY)
    lab.wait_states(None, FailoverState.COMMUNICATIONS_INTERRUPTED, timeout=30)
    for n in range(1, 5):
        assert in_range(lab, n, lab.client(n))
    lab.start(Role.PRIMARY, wait=False)
    lab.wait_normal(timeout=120)


def test_second_lab_with_another_prefix_runs_beside(lab, tmp_path_factory):
    gen = build_lab(tmp_path_factory, "b")
    other = next(gen)
    try:
        assert other.layout.slot != lab.layout.slot
        with FailoverPair(other.pair_config()) as p2, FailoverPair(lab.pair_config()) as p1:
            assert p2.state().health.ok and p1.state().health.ok
        assert in_range(other, 2, other.client(2))
    finally:
        gen.close()
    assert not any(ns.startswith(other.settings.prefix + "-") for ns in namespaces())


def test_down_removes_everything_even_after_a_half_failed_up(tmp_path, monkeypatch):
    from .conftest import require_lab
    require_lab()
    lab = labmod.Lab.create(labmod.LabSettings(prefix=f"t{os.getpid() % 100000}h"), tmp_path)

    def broken_relay() -> None:
        raise LabError("simulated failure half-way")

    monkeypatch.setattr(lab, "_start_relay", broken_relay)
    try:
        with pytest.raises(LabError, match="half-way"):
            lab.up()
        made = set(lab.record.namespaces)
        assert made and made <= namespaces()
    finally:
        removed = lab.down()
    assert any("namespace" in r for r in removed)
    assert not (set(lab.record.namespaces) & namespaces())
    assert subprocess.run(["ip", "link", "show", f"{lab.settings.prefix}-m"],
                          capture_output=True).returncode != 0
    assert lab.down() == []  # running it twice is fine
    assert labmod.down(lab.settings.prefix) == []  # nothing recorded any more


def test_cli_lab_status_and_client(lab, capsys):
    assert cli.main(["lab", "status", "--prefix", lab.settings.prefix, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["failover"] == {"primary": "normal", "secondary": "normal"}
    assert all(p["running"] for k, p in info["processes"].items() if k != "dhclient")
    assert cli.main(["lab", "client", "3", "--prefix", lab.settings.prefix]) == 0
    assert in_range(lab, 3, capsys.readouterr().out.strip())


def test_cli_stop_and_start(healthy_lab, capsys):
    prefix = healthy_lab.settings.prefix
    assert cli.main(["lab", "stop", "secondary", "--prefix", prefix]) == 0
    assert not healthy_lab.running(Role.SECONDARY)
    assert cli.main(["lab", "start", "secondary", "--prefix", prefix]) == 0
    healthy_lab.wait_normal(timeout=120)
    restore(healthy_lab)


def test_faults_cut_throttle_pause_and_heal(healthy_lab, pair):
    from omapifo import PeerTimeout
    from omapifo._omapi import OmapiPeer
    lab = healthy_lab
    ep = lab.endpoint(Role.SECONDARY)
    name = [("name", lab.settings.peer_name.encode())]
    try:
        lab.cut(Role.SECONDARY)
        with pytest.raises(PeerTimeout):  # its link is down: no answer, not a refusal
            OmapiPeer(ep.host, ep.port, lab.key(), timeout=1).open("failover-state", name)
        lab.heal(Role.SECONDARY)
        lab.pause(Role.SECONDARY)
        with pytest.raises(PeerTimeout):  # connects, but no answer
            OmapiPeer(ep.host, ep.port, lab.key(), timeout=1).open("failover-state", name)
        lab.heal(Role.SECONDARY)
        lab.throttle(Role.SECONDARY, "32kbit")
        slow = OmapiPeer(ep.host, ep.port, lab.key(), timeout=10)
        import time
        t = time.monotonic()
        for _ in range(10):  # ~4.5 kB of answers; the first 1.6 kB pass in the burst
            slow.open("failover-state", name)
        assert time.monotonic() - t > 0.3  # unthrottled, these take about 10 ms
        slow.close()
    finally:
        lab.heal(Role.SECONDARY)
    lab.wait_normal(timeout=120)
