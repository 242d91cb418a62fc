"""omapifo.lab without a lab: prerequisites, prefixes, addresses, the files it writes."""
from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest

from omapifo import Role, load_config
from omapifo import lab as labmod
from omapifo.lab import LabError, prerequisites
from omapifo.clients import cli


def test_not_root_is_one_clear_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 1000)
    assert cli.main(["lab", "up", "--prefix", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "root" in err


def test_missing_tools_say_what_to_install(monkeypatch):
    monkeypatch.setattr(prerequisites.os, "geteuid", lambda: 0)
    monkeypatch.setattr(prerequisites.shutil, "which", lambda name: None)
    monkeypatch.setattr(prerequisites.Path, "exists", lambda self: False)
    with pytest.raises(LabError, match="apt-get install isc-dhcp-server"):
        labmod.check_prerequisites()


@pytest.mark.parametrize("prefix", ["", "UPPER", "x" * 13, "1abc", "a b", "a_b"])
def test_bad_prefix_is_refused(prefix):
    with pytest.raises(LabError, match="prefix"):
        labmod.Lab.create(labmod.LabSettings(prefix=prefix))


def test_seed_addresses_map_into_the_benchmarking_range():
    lay = labmod.Layout(0)
    assert lay.server_addr(Role.PRIMARY) == "198.18.10.253"
    assert lay.server_addr(Role.SECONDARY) == "198.18.60.253"
    assert lay.client_range(1) == ("198.18.11.32", "198.18.11.63")


@pytest.mark.parametrize("slot", range(labmod.SLOTS))
def test_every_slot_stays_inside_198_18_0_0_15_and_apart(slot):
    lay = labmod.Layout(slot)
    nets = [lay.server_net(r) for r in Role] + [lay.client_net(n) for n in range(1, 5)]
    assert all(n.subnet_of(labmod.LAB_NET) and n.subnet_of(lay.block) for n in nets)
    others = [labmod.Layout(s).block for s in range(labmod.SLOTS) if s != slot]
    assert not any(lay.block.overlaps(o) for o in others)


def test_large_pool_takes_the_next_slot():
    lay = labmod.Layout(2, large_pool=True)
    low, high = lay.client_range(4)
    size = int(ipaddress.IPv4Address(high)) - int(ipaddress.IPv4Address(low)) + 1
    assert size == 16381 and lay.client_net(4) == labmod.Layout(3).block


def test_the_omapifo_toml_it_writes_loads_with_the_library(tmp_path):
    # a quote and a backslash in the directory: TOML-escaped, not pasted into a string
    lab = labmod.Lab.create(labmod.LabSettings(prefix="cfgtest", algorithm="hmac-sha256"),
                            tmp_path / 'lab "one" \\ two')
    lab.record.slots = [3]
    lab.dir.mkdir()
    lab.key_path.write_text("c2VjcmV0c2VjcmV0\n")
    lab.key_path.chmod(0o600)  # load_config refuses a key file others can read
    lab.write_omapifo_toml()
    text = lab.config_path.read_text()
    assert text.index("lock_dir") < text.index("[pairs.classroom-1-6]")
    pc = load_config(lab.config_path).pairs["classroom-1-6"]
    assert pc == lab.pair_config()
    assert (pc.primary, pc.secondary) == (lab.endpoint(Role.PRIMARY), lab.endpoint(Role.SECONDARY))
    assert str(pc.primary) == "198.18.202.253:7911"
    assert pc.key == lab.key() and pc.key.algorithm == "hmac-sha256"
    assert pc.failover_peer == "classroom-1-6" and pc.timeout == 3.0
    assert pc.dhcpd_conf == lab.conf_path(Role.PRIMARY)
    assert pc.secondary_dhcpd_conf == lab.conf_path(Role.SECONDARY)
    assert pc.lock_dir == lab.dir / "locks" and pc.lock_dir.is_absolute()


def test_the_library_never_imports_the_lab():
    # a fresh interpreter: this one has imported the lab already
    code = ("import importlib, pathlib, sys, omapifo\n"
            "for f in sorted(pathlib.Path(omapifo.__file__).parent.glob('*.py')):\n"
            "    importlib.import_module('omapifo.' + f.stem if f.stem != '__init__' "
            "else 'omapifo')\n"
            "print(sorted(m for m in sys.modules if m.startswith('omapifo.lab')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_lab_error_is_the_labs_own_not_the_librarys():
    import omapifo
    assert not issubclass(LabError, omapifo.OmapifoError)
    assert "LabError" not in omapifo.__all__ and not hasattr(omapifo._errors, "LabError")


def test_a_second_failover_peer_is_a_second_pair_between_the_same_servers(tmp_path):
    from omapifo._dhcpdconf import parse_text
    from omapifo._pools import pair_pools

    settings = labmod.LabSettings(prefix="twopeer", second_peer=True)
    lab = labmod.Lab.create(settings, tmp_path / "lab")
    lab.record.slots = [3]
    lab.dir.mkdir()
    lab.key_path.write_text("c2VjcmV0c2VjcmV0\n")
    lab.key_path.chmod(0o600)
    lab.write_omapifo_toml()
    one, two = (lab.pair_config(), lab.pair_config("classroom-2"))
    assert (one.failover_peer, two.failover_peer) == ("classroom-1-6", "classroom-2")
    assert (one.primary, one.secondary) == (two.primary, two.secondary)
    blocks = {role: lab.failover_block(role) for role in Role}
    for role, (mine, theirs) in ((Role.PRIMARY, ("647", "648")), (Role.SECONDARY, ("648", "647"))):
        text = blocks[role]
        assert text.count("failover peer") == 2 and 'failover peer "classroom-2"' in text
        second = text[text.index('"classroom-2"'):]
        assert f"    port {mine};" in second and f"peer port {theirs};" in second
    conf = parse_text(blocks[Role.PRIMARY] + lab.master_conf(Role.PRIMARY, "c2VjcmV0c2VjcmV0")
                      .replace('include "dhcpd.conf-failover";', ""))
    assert set(conf.failover_peers) == {"classroom-1-6", "classroom-2"}
    assert [p.subnet for p in pair_pools(conf, "classroom-2")] == [lab.layout.client_net(3)]
    assert len(pair_pools(conf, "classroom-1-6")) == 3
    # the seed's layout stays the default: one peer, one pair
    assert labmod.LabSettings().peer_names == ("classroom-1-6",)


def test_a_probe_subnet_is_served_by_both_and_named_as_the_pairs_relay_address(tmp_path):
    from omapifo._dhcpdconf import parse_text
    from omapifo._pools import pair_pools

    from omapifo.clients import cli

    args = cli.build_parser().parse_args(["lab", "up", "--probe-subnet"])
    assert args.probe_subnet is True  # what `omapifo lab up --probe-subnet` asks for
    lab = labmod.Lab.create(labmod.LabSettings(prefix="probes", probe_subnet=True),
                            tmp_path / "lab")
    lab.record.slots = [2]
    lab.dir.mkdir()
    lab.key_path.write_text("c2VjcmV0c2VjcmV0\n")
    lab.key_path.chmod(0o600)
    lab.write_omapifo_toml()
    assert lab.pair_config().probe_giaddr == lab.layout.probe_giaddr == "198.18.137.1"
    for role in Role:
        conf = parse_text(lab.failover_block(role) + lab.master_conf(
            role, "c2VjcmV0c2VjcmV0").replace('include "dhcpd.conf-failover";', ""))
        [probe_pool] = [p for p in pair_pools(conf, "classroom-1-6")
                        if p.subnet == lab.layout.probe_net]
        assert (str(probe_pool.ranges[0].first), probe_pool.size) == ("198.18.137.32", 32)
    assert labmod.LabSettings().probe_subnet is False  # the seed's layout stays the default
