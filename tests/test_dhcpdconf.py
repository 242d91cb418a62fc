"""omapifo._dhcpdconf: the lab's files, other shapes of real configurations, and errors."""
from __future__ import annotations

import ipaddress

import pytest

from omapifo._dhcpdconf import DhcpdConfError, parse_file, parse_text
from omapifo._states import Role

from .labfiles import write_lab_files


def lab_files(tmp_path):
    return write_lab_files(tmp_path)


def test_the_labs_primary_with_its_symlinked_failover_include(tmp_path):
    lab = lab_files(tmp_path)
    conf = parse_file(lab.conf_path(Role.PRIMARY))
    assert [str(s.network) for s in conf.subnets][:2] == ["198.18.10.0/24", "198.18.60.0/24"]
    assert len(conf.pools) == 4 and all(p.size == 32 for p in conf.pools)
    pool = conf.pools[0]
    assert pool.failover_peer == "classroom-1-6"
    assert pool.permits == ["deny dynamic bootp clients"]
    assert pool.subnet == ipaddress.IPv4Network("198.18.11.0/24")
    inc = conf.includes[0]
    assert inc.path == "dhcpd.conf-failover"
    assert inc.symlink_target == "dhcpd.conf-failover-primary"
    fo = conf.failover_peers["classroom-1-6"]
    assert fo.role == "primary" and fo.get("address") == "198.18.10.253"
    assert fo.int("port") == 519 and fo.get("peer address") == "198.18.60.253"
    assert fo.int("peer port") == 520 and fo.int("split") == 128 and fo.int("mclt") == 60
    assert fo.int("load balance max seconds") == 3
    assert fo.statements["mclt"].loc.file.endswith("dhcpd.conf-failover")
    assert conf.omapi_port.value == "7911" and conf.omapi_key.value == "omapi_key"
    assert conf.keys["omapi_key"].algorithm == "hmac-md5"
    assert "c2VjcmV0" not in repr(conf.keys)
    secondary = parse_file(lab.conf_path(Role.SECONDARY)).failover_peers["classroom-1-6"]
    assert secondary.role == "secondary" and secondary.get("mclt") is None


OTHER_SHAPES = """
# a campus server: shared networks, several pools per subnet, pools without failover
authoritative;
option domain-name "example.edu";
failover peer "dhcp-pair" {
  primary; address 10.0.0.1; port 647; peer address 10.0.0.2; peer port 647;
  max-response-delay 60; max-unacked-updates 10; mclt 3600; split 128;
  load balance max seconds 3; auto-partner-down 0;
}
shared-network "building-7" {
  subnet 198.18.100.0 netmask 255.255.255.0 {
    option routers 198.18.100.1;
    pool { failover peer "dhcp-pair"; range 198.18.100.10 198.18.100.99;
           deny dynamic bootp clients; }
    pool { allow members of "voip"; range 198.18.100.200 198.18.100.220; }
  }
  subnet 198.18.101.0 netmask 255.255.255.0 { }
  pool { failover peer "dhcp-pair"; range 198.18.101.50 198.18.101.59; }
}
subnet 198.18.102.0 netmask 255.255.255.0 {
  range dynamic-bootp 198.18.102.5;
  range 198.18.102.30 198.18.102.20;
}
group {
  filename "pxelinux.0";
  host printer-1 { hardware ethernet 02:00:00:00:00:AA; fixed-address 198.18.100.50; }
}
class "voip" { match if substring (option vendor-class-identifier, 0, 4) = "voip"; }
"""


def test_other_shapes():
    conf = parse_text(OTHER_SHAPES, "campus.conf")
    assert conf.shared_networks == ["building-7"]
    assert len(conf.pools) == 3
    voip = conf.pools[1]
    assert voip.failover_peer is None and voip.permits == ['allow members of voip']
    shared_pool = conf.pools[2]
    assert shared_pool.shared_network == "building-7"
    assert shared_pool.subnet == ipaddress.IPv4Network("198.18.101.0/24")
    direct = conf.subnets[2].ranges
    assert direct[0].dynamic_bootp and direct[0].size == 1
    assert (str(direct[1].first), str(direct[1].last)) == ("198.18.102.20", "198.18.102.30")
    host = conf.hosts[0]
    assert host.name == "printer-1" and host.hardware == "02:00:00:00:00:aa"
    assert host.fixed_addresses == ["198.18.100.50"]
    fo = conf.failover_peers["dhcp-pair"]
    assert fo.int("mclt") == 3600 and fo.int("auto-partner-down") == 0
    assert any(ipaddress.IPv4Address("198.18.100.15") in r for r in conf.pools[0].ranges)
    assert any("domain-name" in text for text, _ in conf.options)


@pytest.mark.parametrize("text,where,words", [
    ("subnet 198.18.1.0 netmask 255.255.255.0 {\n range 198.18.1.5\n}\n", ":2", "expected ';'"),
    ("subnet 198.18.1.0 netmask 255.255.255.0 {\n", ":1", "never closed"),
    ("}\n", ":1", "without a matching"),
    ('option x "unterminated;\n', ":1", "unterminated"),
    ("subnet 198.18.1.0 netmask 255.255.255.0 {\n pool { range 198.18.1.5 198.18.1.999; }\n}\n",
     ":2", "not an IPv4 address"),
    ("subnet 198.18.1.0 netmask 255.0.255.0 { }\n", ":1", "bad subnet"),
    ("range 198.18.1.1 198.18.1.2;\n", ":1", "outside a subnet"),
    ('failover peer "a" { primary; }\nfailover peer "a" { secondary; }\n', ":2", "twice"),
])
def test_errors_name_file_and_line(text, where, words):
    with pytest.raises(DhcpdConfError) as info:
        parse_text(text, "bad.conf")
    assert str(info.value).startswith("bad.conf" + where) and words in str(info.value)


def test_missing_include_names_the_including_line(tmp_path):
    (tmp_path / "dhcpd.conf").write_text('authoritative;\ninclude "nope.conf";\n')
    with pytest.raises(DhcpdConfError, match=r"dhcpd.conf:2: cannot read .*nope.conf"):
        parse_file(tmp_path / "dhcpd.conf")
    (tmp_path / "loop.conf").write_text('include "loop.conf";\n')
    with pytest.raises(DhcpdConfError, match="includes itself"):
        parse_file(tmp_path / "loop.conf")
