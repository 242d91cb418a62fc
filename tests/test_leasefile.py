"""omapifo._leasefile: the last record of an address wins; errors name file and line."""
from __future__ import annotations

import ipaddress
import re

import pytest

from omapifo import LeaseState
from omapifo._dhcpdconf import DhcpdConfError
from omapifo import _leasefile as leasefile
from omapifo._leasefile import last_states, read_leases

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


def test_the_fast_reader_takes_apart_what_dhcpd_writes(tmp_path):
    """Records as dhcpd writes them are read without falling back to the tokenizer."""
    from omapifo import _leasefile as leasefile
    body = "".join(f"lease 198.18.11.{n} {{\n  binding state active;\n  next binding state "
                   f"free;\n  hardware ethernet 02:00:00:00:00:{n:02X};\n  uid \"\\001\";\n}}\n"
                   for n in range(32, 64))
    fast = leasefile._read_fast(LEASES + body, "f")
    assert fast == leasefile._read_general(LEASES + body, "f")
    assert len(fast) == 32 and fast[ipaddress.IPv4Address("198.18.11.63")].hardware_address \
        == "02:00:00:00:00:3f"


@pytest.mark.parametrize("record", [
    "lease 198.18.11.9 {\n  BINDING STATE Active;\n}\n",
    'lease 198.18.11.9 {\n  "binding" state active;\n}\n',
    "lease 198.18.11.9 {\n  binding  state\tactive ;\n}\n",
    "lease 198.18.11.9 {\n  binding state active; hardware ethernet 02:00:00:00:00:09;\n}\n",
    "lease 198.18.11.9 {\n  on expiry {\n    set x = 1;\n  }\n  binding state active;\n}\n",
    "lease 198.18.11.9 {\n  # a comment\n  binding state active;\n}\n",
    "lease 198.18.11.9 {\n  binding state active;\n} lease 198.18.11.10 {\n"
    "  binding state free;\n}\n",
    'x "\nlease 198.18.11.9 {\n  binding state active;\n}\n";\n',
    "lease 198.18.11.9 {\n  binding state active,free;\n}\n",
    "lease 198.18.11.9 {\n  client-hostname\xa0x;\n  binding state active;\n}\n",
    "lease 198.18.11.9 {\r\n  binding state active;\r\n}\r\n",
])
def test_odd_shapes_read_as_the_general_reader_reads_them(tmp_path, record):
    from omapifo import _leasefile as leasefile
    path = tmp_path / "dhcpd.leases"
    path.write_text(LEASES + record, newline="")
    try:
        general = leasefile._read_general(LEASES + record, str(path))
    except DhcpdConfError as exc:  # then the same error, not a result
        with pytest.raises(DhcpdConfError, match=re.escape(str(exc))):
            read_leases(path)
    else:
        assert read_leases(path) == general


def test_counter_takes_dhcpds_shape_without_the_general_reader(tmp_path):
    """A file as dhcpd writes it (header, comments, a failover state block, an address
    twice) is counted by the fast path, and its states are read_leases's."""
    path = tmp_path / "dhcpd.leases"
    path.write_text(LEASES)
    fast = leasefile._states_fast(path.read_bytes(), str(path))
    assert fast is not None
    assert fast == {int(ip): r.state for ip, r in read_leases(path).items()}
    assert fast[int(ipaddress.IPv4Address("198.18.11.40"))] is LeaseState.RELEASED


@pytest.mark.parametrize("edit", [
    ("  binding state released;\n", "  binding state released; binding state active;\n"),
    ("  binding state released;\n", "  binding state released;\n  x; binding state active;\n"),
    ("  binding state released;\n", "  binding  state active;\n"),
    ('  client-hostname "vm";\n', '  client-hostname "vm;\n  binding state free;\n";\n'),
    ("  binding state released;\n", "  # binding state free;\n  binding state released;\n"),
])
def test_counter_hands_other_shapes_to_read_leases(tmp_path, edit):
    """Shapes dhcpd does not write leave the fast path, and the answer is read_leases's."""
    path = tmp_path / "dhcpd.leases"
    path.write_text(LEASES.replace(*edit, 1))
    assert leasefile._states_fast(path.read_bytes(), str(path)) is None
    assert last_states(path) == {int(ip): r.state for ip, r in read_leases(path).items()}


@pytest.mark.parametrize("edit", [
    ("  binding state released;\n", "  BINDING STATE active;\n"),
    ("lease 198.18.11.41 {", "LEASE 198.18.11.41 {"),
])
def test_counter_is_case_blind_as_dhcpd(tmp_path, edit):
    """Keywords in capitals (dhcpd reads them, never writes them) leave the fast path."""
    path = tmp_path / "dhcpd.leases"
    path.write_text(LEASES.replace(*edit, 1))
    assert leasefile._states_fast(path.read_bytes(), str(path)) is None
    assert last_states(path) == {int(ip): r.state for ip, r in read_leases(path).items()}


def test_capitals_in_a_hostname_stay_on_the_fast_path(tmp_path):
    path = tmp_path / "dhcpd.leases"
    path.write_text(LEASES.replace('"vm"', '"Binding-PC"').replace("02:00:00:00:00:01",
                                                                   "02:00:00:AA:BB:01"))
    fast = leasefile._states_fast(path.read_bytes(), str(path))
    assert fast is not None
    assert fast == {int(ip): r.state for ip, r in read_leases(path).items()}
