"""DHCP on the wire for the probes: a relayed DHCPDISCOVER out, DHCPOFFERs back.

A probe is what a campus router's ``ip helper-address`` sends (RFC 2131 §4.1, RFC 1542):
``giaddr`` is an address of this host inside a subnet the servers declare, ``hops`` is 1,
and the DISCOVER goes by unicast from ``giaddr:67`` to each server's port 67; a server
answers to ``giaddr:67``. Measured against dhcpd 4.4 in the lab (docs/probes.md): each
OFFER comes about 1.0 s after the DISCOVER (dhcpd pings the address first, ping-timeout
1 s), the offered lease stays free/backup with the probe's hardware address (and may be
written to dhcpd.leases so, never as active). A probe never sends a DHCPREQUEST, so no
address is ever bound to it.

Packets are built and decoded with dpkt (setup.cfg says why not scapy). Everything a
server sends back is untrusted: :func:`decode_offer` returns None for anything that is not
a well-formed BOOTREPLY carrying a DHCPOFFER (tests/test_fuzz_parsers.py feeds it noise).
"""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass

import dpkt  # type: ignore[import-untyped]  # ships no type information

from ._errors import ProbeError

SERVER_PORT = 67  # dhcpd listens here, and a relay agent sends and receives from it
# dhcpd.conf(5): "load balance max seconds" defaults to 3; a DISCOVER whose secs field is
# larger is answered by either peer, not only by the one its hardware address hashes to
DEFAULT_LOAD_BALANCE_MAX_SECS = 3
_PARAMS = bytes([1, 3, 51, 54])  # subnet mask, routers, lease time, server identifier


@dataclass(frozen=True)
class Offer:
    """What one DHCPOFFER said: the address offered, by whom, for how long."""

    yiaddr: str
    server_id: str | None  # option 54; None when the server left it out
    lease_time: int | None  # option 51, seconds
    source: str  # the IP source address of the datagram


@dataclass(frozen=True)
class Sent:
    """One DISCOVER of a round: where to, its transaction id and hardware address."""

    server: str
    xid: int
    mac: str


@dataclass(frozen=True)
class Answer:
    """What came back for one :class:`Sent` within the round's timeout."""

    sent: Sent
    offer: Offer | None
    latency: float | None  # seconds from send to the OFFER
    error: str | None = None  # the DISCOVER could not be sent (no route, ...)


def mac_bytes(mac: str) -> bytes:
    """``02:6f:...`` as 6 bytes; ValueError names the text when it is not a MAC."""
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"{mac!r} is not a hardware address like 02:6f:6d:70:00:01")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"{mac!r} is not a hardware address like 02:6f:6d:70:00:01") from None


def discover(giaddr: str, mac: str, xid: int, secs: int) -> bytes:
    """A relayed DHCPDISCOVER from ``mac`` with transaction id ``xid``."""
    msg = dpkt.dhcp.DHCP(
        op=dpkt.dhcp.DHCP_OP_REQUEST, hops=1, xid=xid, secs=secs,
        giaddr=int(ipaddress.IPv4Address(giaddr)), chaddr=mac_bytes(mac) + bytes(10),
        opts=((dpkt.dhcp.DHCP_OPT_MSGTYPE, bytes([dpkt.dhcp.DHCPDISCOVER])),
              (dpkt.dhcp.DHCP_OPT_PARAM_REQ, _PARAMS)))
    return bytes(msg)


def _ip(raw: bytes) -> str | None:
    return str(ipaddress.IPv4Address(raw)) if len(raw) == 4 else None


def decode_offer(data: bytes, source: str) -> tuple[int, Offer] | None:
    """(xid, offer) when ``data`` is a BOOTREPLY with a DHCPOFFER, else None."""
    try:
        msg = dpkt.dhcp.DHCP(data)
        opts = {code: bytes(value) for code, value in msg.opts}
    except (dpkt.UnpackError, struct.error, ValueError, TypeError, IndexError):
        return None  # dpkt.NeedData is an UnpackError
    if msg.op != dpkt.dhcp.DHCP_OP_REPLY or \
            opts.get(dpkt.dhcp.DHCP_OPT_MSGTYPE) != bytes([dpkt.dhcp.DHCPOFFER]):
        return None
    lease = opts.get(dpkt.dhcp.DHCP_OPT_LEASE_SEC, b"")
    return msg.xid, Offer(
        yiaddr=str(ipaddress.IPv4Address(msg.yiaddr)),
        server_id=_ip(opts.get(dpkt.dhcp.DHCP_OPT_SERVER_ID, b"")),
        lease_time=struct.unpack("!I", lease)[0] if len(lease) == 4 else None,
        source=source)


def new_xid() -> int:
    """A transaction id of our own for each DISCOVER (RFC 2131 §4.1: random)."""
    return int.from_bytes(os.urandom(4), "big")


# How long a round waits for port 67 that another probe round on this host holds (the
# service's scheduled one while an admin probes by hand): each takes about a second.
BUSY_WAIT, BUSY_STEP = 15.0, 0.1  # above the longest round a request may ask (10 s + gap)


def _bind(giaddr: str) -> socket.socket:
    """A UDP socket on ``giaddr:67``. No SO_REUSEADDR: with it, two probes on one host
    would each get some of the other's answers (Linux hands a unicast datagram to one of
    the sockets); without it the second one finds the port taken and waits for it, up to
    BUSY_WAIT seconds, then is told so."""
    deadline = time.monotonic() + BUSY_WAIT
    while True:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((giaddr, SERVER_PORT))
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                time.sleep(BUSY_STEP)
                continue
            raise _bind_error(giaddr, exc) from None


def _bind_error(giaddr: str, exc: OSError) -> ProbeError:
    where = f"{giaddr}:{SERVER_PORT}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        why = (f"binding {where} needs root or CAP_NET_BIND_SERVICE (a relay's port): run "
               "the probe as root or give the service that capability")
    elif exc.errno == errno.EADDRINUSE:
        why = (f"{where} is in use: another probe has held it for {BUSY_WAIT:g} s, or a "
               "DHCP server or relay on this host holds port 67")
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = (f"{giaddr} is not an address of this host: probe_giaddr must be this host's "
               "own address in a subnet both servers serve (docs/probes.md)")
    else:
        why = f"cannot bind {where}: {exc.strerror}"
    return ProbeError(why, operation="probe")


def exchange(giaddr: str, sent: list[Sent], *, secs: int, timeout: float) -> list[Answer]:
    """Send each DISCOVER of ``sent`` from ``giaddr:67`` and wait up to ``timeout``
    seconds for their OFFERs (one socket for the round; an answer is matched to its
    DISCOVER by the random 32-bit xid, whichever address it came from: a multi-homed
    server may answer from another). ProbeError when the socket cannot be had; a DISCOVER that
    cannot be sent is an Answer with its ``error``."""
    with _bind(giaddr) as sock:
        start: dict[int, float] = {}
        answers: dict[int, Answer] = {}
        for s in sent:
            try:
                sock.sendto(discover(giaddr, s.mac, s.xid, secs), (s.server, SERVER_PORT))
                start[s.xid] = time.monotonic()
            except OSError as exc:
                answers[s.xid] = Answer(s, None, None, f"not sent: {exc.strerror}")
        by_xid = {s.xid: s for s in sent}
        deadline = time.monotonic() + timeout
        while len(answers) < len(sent):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # a socket timeout, not select(): select() fails for descriptors over 1023,
            # which a long-running service may hand out
            sock.settimeout(left)
            try:
                data, (source, _port) = sock.recvfrom(4096)
            except TimeoutError:
                break
            except OSError:
                continue  # e.g. an ICMP error for an earlier datagram: not an answer
            got = decode_offer(data, source)
            if got is None or got[0] not in by_xid or got[0] in answers:
                continue  # not ours, or a second OFFER for one DISCOVER
            xid, offer = got
            answers[xid] = Answer(by_xid[xid], offer, time.monotonic() - start[xid])
    return [answers.get(s.xid, Answer(s, None, None)) for s in sent]
