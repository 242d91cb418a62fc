"""The probes' DHCP codec (omapifo/_dhcp.py) without a network: the DISCOVER carries what
a relay agent sends, an OFFER decodes, and nothing else a server might send is an OFFER."""
from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest

from omapifo import ProbeError
from omapifo import _dhcp

GIADDR, MAC = "198.18.9.1", "02:6f:6d:70:12:34"


def offer(xid: int = 7, *, msgtype: int = dpkt.dhcp.DHCPOFFER, op: int = dpkt.dhcp.DHCP_OP_REPLY,
          opts: tuple = ()) -> bytes:
    return bytes(dpkt.dhcp.DHCP(
        op=op, xid=xid, yiaddr=int(ipaddress.IPv4Address("198.18.9.40")),
        opts=((dpkt.dhcp.DHCP_OPT_MSGTYPE, bytes([msgtype])),
              (dpkt.dhcp.DHCP_OPT_SERVER_ID, ipaddress.IPv4Address("198.18.10.253").packed),
              (dpkt.dhcp.DHCP_OPT_LEASE_SEC, (600).to_bytes(4, "big")), *opts)))


def test_the_discover_is_what_a_relay_agent_sends():
    raw = _dhcp.discover(GIADDR, MAC, 0x1234ABCD, 4)
    msg = dpkt.dhcp.DHCP(raw)
    opts = dict(msg.opts)
    assert (msg.op, msg.hops, msg.xid, msg.secs) == (dpkt.dhcp.DHCP_OP_REQUEST, 1, 0x1234ABCD, 4)
    assert str(ipaddress.IPv4Address(msg.giaddr)) == GIADDR
    # chaddr at offset 28, 16 bytes (RFC 2131 §2): the MAC, then zeros
    assert raw[28:44] == bytes.fromhex("026f6d701234") + bytes(10) and msg.hln == 6
    assert opts[dpkt.dhcp.DHCP_OPT_MSGTYPE] == bytes([dpkt.dhcp.DHCPDISCOVER])
    assert dpkt.dhcp.DHCP_OPT_REQ_IP not in opts  # asks for nothing in particular


def test_an_offer_decodes():
    xid, got = _dhcp.decode_offer(offer(99), "198.18.10.253")
    assert xid == 99
    assert got == _dhcp.Offer("198.18.9.40", "198.18.10.253", 600, "198.18.10.253")


@pytest.mark.parametrize("data", [
    offer(msgtype=dpkt.dhcp.DHCPACK),  # not an answer to a DISCOVER
    offer(msgtype=dpkt.dhcp.DHCPNAK),
    offer(op=dpkt.dhcp.DHCP_OP_REQUEST),  # another relay's DISCOVER
    offer()[:100],  # cut short
    b"", b"\x02" * 300,
])
def test_anything_but_an_offer_is_none(data):
    assert _dhcp.decode_offer(data, "198.18.10.253") is None


def test_an_offer_with_odd_options_still_decodes_what_it_can():
    _, got = _dhcp.decode_offer(offer(opts=((dpkt.dhcp.DHCP_OPT_SERVER_ID, b"\x01"),)), "s")
    assert got.yiaddr == "198.18.9.40"


@pytest.mark.parametrize("mac", ["02:6f:6d:70:12", "02-6f-6d-70-12-34", "zz:6f:6d:70:12:34",
                                 "2:6f:6d:70:12:344"])
def test_a_malformed_mac_is_a_value_error_naming_it(mac):
    with pytest.raises(ValueError, match="is not a hardware address"):
        _dhcp.mac_bytes(mac)


def test_an_address_not_of_this_host_is_a_clear_probe_error():
    # binding sends nothing; 198.18.255.254 is inside the lab's range and on no interface
    with pytest.raises(ProbeError, match="is not an address of this host"):
        _dhcp.exchange("198.18.255.254", [], secs=4, timeout=0.1)


PORT_START = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")


@pytest.fixture
def privileged_port_67() -> Iterator[None]:
    """Port 67 needs a privilege, as on a default Linux (1024); restored after."""
    before = PORT_START.read_text().strip()
    if int(before) <= _dhcp.SERVER_PORT:
        PORT_START.write_text("1024\n")
    try:
        yield
    finally:
        PORT_START.write_text(before + "\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as nobody")
def test_a_user_without_the_privilege_is_told_what_port_67_needs(privileged_port_67):
    """A forked child that becomes nobody (no new interpreter: the venv of a test run may
    be where nobody cannot read). Nothing is sent: binding 127.0.0.1:67 fails first."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: always ends here, with os._exit
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            try:
                _dhcp.exchange("127.0.0.1", [], secs=4, timeout=0.1)
                os.write(write, b"bound")
            except ProbeError as exc:
                os.write(write, str(exc).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as got:
        said = got.read()
    os.waitpid(pid, 0)
    assert "binding 127.0.0.1:67 needs root or CAP_NET_BIND_SERVICE" in said, said


def _hold_port_67() -> socket.socket:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        holder.bind(("127.0.0.1", _dhcp.SERVER_PORT))
    except PermissionError:
        holder.close()
        pytest.skip("not root: port 67 cannot be bound here at all")
    return holder


def test_a_port_held_too_long_by_another_program_is_a_clear_probe_error(monkeypatch):
    monkeypatch.setattr(_dhcp, "BUSY_WAIT", 0.3)
    with _hold_port_67():
        started = time.monotonic()
        with pytest.raises(ProbeError, match="127.0.0.1:67 is in use: another probe has held "
                           "it for 0.3 s"):
            _dhcp.exchange("127.0.0.1", [], secs=4, timeout=0.1)
        assert 0.3 <= time.monotonic() - started < 2


def test_a_round_waits_for_another_probe_round_to_free_the_port():
    """The service's scheduled round and an admin's `omapifo probe` on one host: the
    second waits for the first (about a second) instead of failing."""
    holder = _hold_port_67()
    threading.Timer(0.5, holder.close).start()
    assert _dhcp.exchange("127.0.0.1", [], secs=4, timeout=0.1) == []
