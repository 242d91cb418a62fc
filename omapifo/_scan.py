"""Pipelined lease lookups for pool scans, with a lean OMAPI codec.

Written by hand because of a measurement (../shared/notes/omapi-facts.md): one lookup
with pypureomapi costs 0.6-0.9 ms, mostly its generator-based parser, while dhcpd
answers in about 80 us. This codec encodes the one request a scan sends (open a lease
by ``ip-address``) with struct, decodes answers with struct, and still checks every
answer's HMAC signature. Its bytes equal pypureomapi's for the same message
(tests/test_scan.py). Requests are pipelined with a bounded window, and the bound is
small on purpose. The facts file saw dhcpd 4.4.3 abort (``dst_api.c:353: REQUIRE``)
near 1,000 unanswered signed requests on an idle pool. Measured here (2026-11-25, fresh
lab, six clients had just got leases, one scan of the 128 pool addresses): a window of
32 aborted the primary in 3 of 4 runs, while 32 over addresses no client had touched
survived 2 of 2, and windows of 8, 12 and 16 survived every run (8: 5 of 5). So the
default is 8 and nothing above 16 is allowed (docs/performance.md).

A ``rate`` is the peer's, not the scan's: every scan of a peer in this process draws its
lookups from that peer's one budget (:func:`omapifo._budget.peer_budget`), so concurrent
scans (the poller's, lease lists, searches) never ask one dhcpd for more than ``rate``
lookups a second in total.
"""
from __future__ import annotations

import hmac
import ipaddress
import random
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ._budget import RateBudget, peer_budget
from ._errors import PeerTimeout, PeerUnreachable, ProtocolError
from ._omapi import OmapiPeer, RawSession

OP_OPEN, OP_UPDATE, OP_STATUS = 1, 3, 5
DEFAULT_WINDOW = 8
MAX_WINDOW = 16  # 32 aborted dhcpd 4.4.3 right after client activity (see above)
_HEADER = struct.Struct("!IIIIII")  # authid, authlen, opcode, handle, tid, rid
_TYPE_LEASE = b"\x00\x04type\x00\x00\x00\x05lease\x00\x00"  # message: {type: lease}

Progress = Callable[[int, int], None]
T = TypeVar("T")


def _bindict(items: Sequence[tuple[bytes, bytes]]) -> bytes:
    return b"".join(struct.pack("!H", len(k)) + k + struct.pack("!I", len(v)) + v
                    for k, v in items) + b"\x00\x00"


def encode_open(tid: int, obj: Sequence[tuple[bytes, bytes]], authid: int, authlen: int,
                sign: Callable[[bytes], bytes], typename: bytes = b"lease") -> bytes:
    """An OMAPI open message, signed: pypureomapi's OmapiMessage.open(...).sign(...) bytes."""
    message = _TYPE_LEASE if typename == b"lease" else _bindict([(b"type", typename)])
    signed = struct.pack("!IIIII", authlen, OP_OPEN, 0, tid, 0) + message + _bindict(obj)
    return struct.pack("!I", authid) + signed + sign(signed)


@dataclass(frozen=True)
class Answer:
    opcode: int
    rid: int
    obj: dict[bytes, bytes]


def _read_bindict(buf: bytes | bytearray, pos: int) -> tuple[dict[bytes, bytes], int] | None:
    out: dict[bytes, bytes] = {}
    n = len(buf)
    while True:
        if pos + 2 > n:
            return None
        (klen,) = struct.unpack_from("!H", buf, pos)
        pos += 2
        if klen == 0:
            return out, pos
        if pos + klen + 4 > n:
            return None
        key = bytes(buf[pos:pos + klen])
        (vlen,) = struct.unpack_from("!I", buf, pos + klen)
        pos += klen + 4
        if pos + vlen > n:
            return None
        out[key] = bytes(buf[pos:pos + vlen])
        pos += vlen


def decode(buf: bytes | bytearray, pos: int, authid: int,
           sign: Callable[[bytes], bytes]) -> tuple[Answer, int] | None:
    """One answer starting at ``pos``, signature checked; None if incomplete."""
    if pos + _HEADER.size > len(buf):
        return None
    their_authid, authlen, opcode, _handle, _tid, rid = _HEADER.unpack_from(buf, pos)
    if authlen > 1024:
        raise ProtocolError(f"answer claims a {authlen}-byte signature: not OMAPI")
    first = _read_bindict(buf, pos + _HEADER.size)
    if first is None:
        return None
    second = _read_bindict(buf, first[1])
    if second is None:
        return None
    obj, end = second
    if end + authlen > len(buf):
        return None
    signature = bytes(buf[end:end + authlen])
    if their_authid != authid or not hmac.compare_digest(
            sign(bytes(buf[pos + 4:end])), signature):
        raise ProtocolError("an answer's signature did not verify with our key")
    return Answer(opcode, rid, obj), end + authlen


def lease_states(peer: OmapiPeer, ips: Sequence[ipaddress.IPv4Address], *,
                 window: int = DEFAULT_WINDOW, rate: float | None = None,
                 progress: Progress | None = None) -> list[int | None]:
    """The binding state number of every address (None where dhcpd has no lease).

    Runs on its own connection (``peer.clone()``), so a long scan never holds the lock
    of the connection the health poller uses. ``rate`` caps lookups per second to the
    peer, shared with every other scan of it (module docstring), so scans do not starve
    the DHCP service. Raises PeerUnreachable/PeerTimeout if the
    connection breaks or stalls: a scan is complete or it is an error.
    """
    return _scan(peer, ips, _state_of, window, rate, progress)


# A lease's fields a list shows: binding state, hardware address, client hostname, and
# the UNIX times starts, ends and cltt (0 = unset; cltt tells the serving peer, which
# alone records it: omapifo/_leases.py). Raw bytes: the caller decodes only what it keeps.
LeaseFields = tuple[int, bytes | None, bytes | None, int, int, int]
_U32 = struct.Struct("!I")


def _state_of(answer: Answer) -> int | None:
    raw = answer.obj.get(b"state")
    if answer.opcode == OP_UPDATE and raw is not None and len(raw) == 4:
        return int(_U32.unpack(raw)[0])
    return None


def _u32(raw: bytes | None) -> int:
    return int(_U32.unpack(raw)[0]) if raw is not None and len(raw) == 4 else 0


def _fields_of(answer: Answer) -> LeaseFields | None:
    state = _state_of(answer)
    if state is None:
        return None
    o = answer.obj
    return (state, o.get(b"hardware-address"), o.get(b"client-hostname"),
            _u32(o.get(b"starts")), _u32(o.get(b"ends")), _u32(o.get(b"cltt")))


def lease_fields(peer: OmapiPeer, ips: Sequence[ipaddress.IPv4Address], *,
                 window: int = DEFAULT_WINDOW, rate: float | None = None,
                 progress: Progress | None = None) -> list[LeaseFields | None]:
    """What a lease list shows of every address (None where dhcpd has no lease): the same
    requests, window and checks as :func:`lease_states`, only more of each answer kept."""
    return _scan(peer, ips, _fields_of, window, rate, progress)


def _scan(peer: OmapiPeer, ips: Sequence[ipaddress.IPv4Address],
          extract: Callable[[Answer], T | None], window: int, rate: float | None,
          progress: Progress | None) -> list[T | None]:
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be 1 to {MAX_WINDOW}: more unanswered requests on one "
                         "connection made dhcpd 4.4.3 abort (omapifo/_scan.py)")
    budget = peer_budget(peer.host, peer.port) if rate else None
    scanner = peer.clone()
    with scanner.raw_session("pool scan") as rs:
        return _pipeline(rs, ips, extract, window, rate, progress, budget)


def _pipeline(rs: RawSession, ips: Sequence[ipaddress.IPv4Address],
              extract: Callable[[Answer], T | None], window: int,
              rate: float | None, progress: Progress | None,
              budget: RateBudget | None = None) -> list[T | None]:
    n = len(ips)
    results: list[T | None] = [None] * n
    base = random.SystemRandom().randrange(1 << 31)
    outstanding: dict[int, int] = {}
    buf = bytearray()
    sent = done = 0
    if rate and budget is None:
        budget = RateBudget(rs.label)  # a scan of its own (tests): capped all the same
    due = 0.0  # seconds until the budget has the next lookup, when it had none
    sock: socket.socket = rs.sock
    try:
        while done < n:
            batch = []
            while sent < n and len(outstanding) < window:
                # a burst of one window at most, as one scan alone had before the budget
                if budget is not None and rate and (due := budget.take(rate, window)):
                    break  # the peer's budget is spent for now: answers first, then more
                tid = (base + sent) & 0xFFFFFFFF
                outstanding[tid] = sent
                batch.append(encode_open(tid, [(b"ip-address", ips[sent].packed)],
                                         rs.authid, rs.authlen, rs.sign))
                sent += 1
            if batch:
                sock.sendall(b"".join(batch))
            if not outstanding:
                time.sleep(min(0.05, due or 0.001))
                continue
            data = sock.recv(262144)
            if not data:
                raise PeerUnreachable(f"dhcpd closed the connection after {done} of {n} "
                                      "addresses: the scan is incomplete", peer=rs.label,
                                      operation="pool scan")
            buf += data
            pos = 0
            while True:
                got = decode(buf, pos, rs.authid, rs.sign)
                if got is None:
                    break
                answer, pos = got
                index = outstanding.pop(answer.rid, None)
                if index is None:
                    raise ProtocolError(f"answer to a request never sent (rid {answer.rid})",
                                        peer=rs.label, operation="pool scan")
                results[index] = extract(answer)
                done += 1
                if progress and (done % 1024 == 0 or done == n):
                    progress(done, n)
            del buf[:pos]
    except (socket.timeout, TimeoutError) as exc:
        raise PeerTimeout(f"the scan stalled after {done} of {n} addresses",
                          peer=rs.label, operation="pool scan") from exc
    except OSError as exc:
        raise PeerUnreachable(f"connection lost after {done} of {n} addresses: {exc}",
                              peer=rs.label, operation="pool scan") from exc
    return results
