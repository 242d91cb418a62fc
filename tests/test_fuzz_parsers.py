"""The dhcpd.conf parser and the dhcpd.leases reader, fuzzed with random mutations of real
files: only clean errors with file and line, never another exception, never a hang."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omapifo._dhcp import Offer, decode_offer
from omapifo._dhcpdconf import DhcpdConfError, parse_text
from omapifo import _leasefile as leasefile
from omapifo._leasefile import last_states, read_leases

from .labfiles import write_lab_files
from .test_dhcp import offer
from .test_dhcpdconf import OTHER_SHAPES
from .test_leasefile import LEASES

LOCATED = re.compile(r"^\S+:\d+: |^cannot read ")


def lab_conf_text(tmp_path_factory) -> str:
    lab = write_lab_files(tmp_path_factory.mktemp("fuzz"))
    from omapifo._states import Role
    d = lab.server_dir(Role.PRIMARY)
    return (d / "dhcpd.conf").read_text().replace('include "dhcpd.conf-failover";',
                                                  (d / "dhcpd.conf-failover").read_text())


PIECES = ["{", "}", ";", '"', "#", "\n", " ", "range", "subnet", "pool", "failover peer",
          "netmask", "198.18.1.1", "999.1.1.1", "include", "lease", "binding state",
          "\\", "\x00", "é", "\xa0", "\x1c", "\r", "\t", "LEASE", "hardware ethernet"]


def mutate(text: str, edits: list[tuple[int, int, int]]) -> str:
    for kind, pos, arg in edits:
        pos %= max(1, len(text))
        if kind == 0:  # delete a run of characters
            text = text[:pos] + text[pos + arg % 20:]
        elif kind == 1:  # insert a piece of dhcpd syntax
            text = text[:pos] + PIECES[arg % len(PIECES)] + text[pos:]
        else:  # duplicate a slice
            text = text[:pos] + text[pos:pos + arg % 40] + text[pos:]
    return text


EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.integers(0, 10**6)),
                 min_size=1, max_size=8)
# A deadline per example (generous: a loaded 2-core CI machine) and a timeout per test:
# a parser that hangs on some input fails here instead of running into CI's limit.
FUZZ = settings(max_examples=300, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.function_scoped_fixture])
pytestmark = pytest.mark.timeout(300)


@FUZZ
@given(edits=EDITS, which=st.booleans())
def test_mutated_dhcpd_conf(tmp_path_factory, edits, which):
    base = lab_conf_text(tmp_path_factory) if which else OTHER_SHAPES
    try:
        parse_text(mutate(base, edits), "fuzz.conf")
    except DhcpdConfError as exc:
        assert LOCATED.match(str(exc)), str(exc)


@FUZZ
@given(edits=EDITS)
def test_mutated_dhcpd_leases(tmp_path, edits):
    path = tmp_path / "dhcpd.leases"
    text = mutate(LEASES, edits)
    path.write_text(text, errors="surrogateescape")
    text = path.read_text(errors="replace")
    try:
        got = read_leases(path)
    except DhcpdConfError as exc:
        assert LOCATED.match(str(exc)), str(exc)
        with pytest.raises(DhcpdConfError) as general:  # the same error as the tokenizer's
            leasefile._read_general(text, str(path))
        assert str(general.value) == str(exc)
    else:  # the fast reader and the general one agree on every record
        assert got == leasefile._read_general(text, str(path))


@FUZZ
@given(edits=EDITS)
def test_mutated_dhcpd_leases_counted(tmp_path, edits):
    """The counter without record objects finds every state read_leases finds, or the
    same error (it hands anything out of dhcpd's shape to read_leases)."""
    path = tmp_path / "dhcpd.leases"
    path.write_text(mutate(LEASES, edits), errors="surrogateescape")
    try:
        want = {int(ip): rec.state for ip, rec in read_leases(path).items()}
    except DhcpdConfError as exc:
        with pytest.raises(DhcpdConfError) as got:
            last_states(path)
        assert str(got.value) == str(exc)
    else:
        assert last_states(path) == want


# -- the probes' DHCP decoder: whatever comes back to port 67 -------------------------------

@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_are_never_an_exception_from_the_dhcp_decoder(data):
    got = decode_offer(data, "198.18.10.253")
    assert got is None or isinstance(got[0], int)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                      max_size=12), cut=st.integers(0, 400))
def test_a_mutated_offer_decodes_or_is_none(edits, cut):
    data = bytearray(offer(0x01020304))
    for pos, value in edits:
        data[pos % len(data)] = value
    got = decode_offer(bytes(data[:len(data) - cut % len(data)]), "198.18.10.253")
    assert got is None or isinstance(got[1], Offer)
