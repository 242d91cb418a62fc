"""omapifo.leasefile: the last record of an address wins; errors name file and line."""
from __future__ import annotations

import ipaddress

import pytest

from omapifo import LeaseState
from omapifo.dhcpdconf import DhcpdConfError
from omapifo.leasefile import read_leases

LEASES = """# The format of this file is documented in the dhcpd.leases(5) manual page.
authoring-byte-order little-endian;
server-duid "\\000\\001\\000\\001";
lease 198.18.11.40 {
  starts 3 2026/11/25 03:24:00;
  ends 3 2026/11/25 03:25:00;
  binding state active;
  next binding state expired;
  hardware ethernet 02:00:00:00:00:01;
  uid "\\001\\002\\000\\000\\000\\000\\001";
  client-hostname "vm";
}
failover peer "classroom-1-6" state {
  my state normal at 3 2026/11/25 03:24:00;
  partner state normal at 3 2026/11/25 03:24:00;
}
lease 198.18.11.40 {
  binding state released;
}
lease 198.18.11.41 {
  binding state backup;
}
"""


def test_last_record_wins(tmp_path):
    path = tmp_path / "dhcpd.leases"
    path.write_text(LEASES)
    leases = read_leases(path)
    first = leases[ipaddress.IPv4Address("198.18.11.40")]
    assert first.state is LeaseState.RELEASED and first.loc.line == 17
    assert leases[ipaddress.IPv4Address("198.18.11.41")].state is LeaseState.BACKUP


@pytest.mark.parametrize("text,line,words", [
    ("lease 198.18.11.300 {\n binding state free;\n}\n", 1, "not an IPv4"),
    ("lease 198.18.11.3 {\n binding state sleepy;\n}\n", 2, "unknown binding state"),
    ("lease 198.18.11.3 {\n binding state free;\n", 1, "never closed"),
])
def test_errors(tmp_path, text, line, words):
    path = tmp_path / "dhcpd.leases"
    path.write_text(text)
    with pytest.raises(DhcpdConfError) as info:
        read_leases(path)
    assert str(info.value).startswith(f"{path}:{line}:") and words in str(info.value)
