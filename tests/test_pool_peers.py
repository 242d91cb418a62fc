"""A pair counts only its own failover peer's pools (and those of no failover peer)."""
from __future__ import annotations

from omapifo import pools_from_files
from omapifo._dhcpdconf import parse_text
from omapifo._pools import pair_pools

FAILOVER = """
failover peer "{name}" {{
    primary; address 198.18.0.1; port {port}; peer address 198.18.0.2; peer port {peer};
    max-response-delay 30; max-unacked-updates 10; mclt 3600; split 128;
}}
"""
CONF = (FAILOVER.format(name="one", port=519, peer=520)
        + FAILOVER.format(name="two", port=647, peer=648) + """
subnet 198.19.1.0 netmask 255.255.255.0 {
    pool { failover peer "one"; deny dynamic bootp clients; range 198.19.1.10 198.19.1.19; }
}
subnet 198.19.2.0 netmask 255.255.255.0 {
    pool { failover peer "two"; deny dynamic bootp clients; range 198.19.2.10 198.19.2.13; }
}
subnet 198.19.3.0 netmask 255.255.255.0 {
    pool { range 198.19.3.10 198.19.3.11; }
}
""")
LEASES = "".join(f"lease {ip} {{\n  binding state {st};\n}}\n" for ip, st in [
    ("198.19.1.10", "active"), ("198.19.1.11", "free"), ("198.19.2.10", "active"),
    ("198.19.2.11", "active"), ("198.19.2.12", "backup"), ("198.19.3.10", "active")])


def test_each_failover_peer_counts_its_own_pools(tmp_path):
    (tmp_path / "dhcpd.conf").write_text(CONF)
    (tmp_path / "dhcpd.leases").write_text(LEASES)
    conf = parse_text(CONF, str(tmp_path / "dhcpd.conf"))
    assert [p.failover_peer for p in pair_pools(conf, "one")] == ["one", None]
    assert [p.failover_peer for p in pair_pools(conf, "two")] == ["two", None]
    assert [p.failover_peer for p in pair_pools(conf, None)] == ["one", "two", None]
    one = pools_from_files(tmp_path / "dhcpd.conf", tmp_path / "dhcpd.leases",
                           pair="one", failover_peer="one")
    two = pools_from_files(tmp_path / "dhcpd.conf", tmp_path / "dhcpd.leases",
                           pair="two", failover_peer="two")
    assert [(p.failover_peer, p.total, p.active) for p in one.pools] == [
        ("one", 10, 1), (None, 2, 1)]
    assert [(p.failover_peer, p.total, p.active, p.backup) for p in two.pools] == [
        ("two", 4, 2, 1), (None, 2, 1, 0)]
    assert two.pools[1].runway == {} and two.pools[0].runway == {"primary": 0, "secondary": 1}
    everything = pools_from_files(tmp_path / "dhcpd.conf", tmp_path / "dhcpd.leases")
    assert [p.total for p in everything.pools] == [10, 4, 2]
