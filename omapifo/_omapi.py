"""The OMAPI protocol layer: one authenticated, locked connection to one dhcpd.

This is the only module that imports pypureomapi. pypureomapi connects and
authenticates in its constructor, has no lock, no reconnect, and lets raw
``socket.error``/``struct.error`` escape; :class:`OmapiPeer` adds those and turns every
failure into :mod:`omapifo._errors`. Above this layer nothing sees pypureomapi.

Objects come back as :class:`OmapiObject` (the handle and the raw attribute bytes);
:mod:`omapifo._wire` decodes them into the models. The end of this module spells the
objects and attributes the library uses (``ATTRIBUTES``), the lookups and changes it
sends, and the parsers of what users type (addresses, MACs, client ids, host names).
"""
from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import ipaddress
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

import pypureomapi as _pom  # type: ignore[import-untyped]  # ships no type information

from ._errors import (
    AuthenticationFailed,
    ConnectionRefused,
    ConnectionRejected,
    NotFound,
    PeerError,
    PeerTimeout,
    PeerUnreachable,
    ProtocolError,
    Refused,
)

DEFAULT_PORT = 7911
_T = TypeVar("_T")
DEFAULT_TIMEOUT = 3.0

# isc_result_t codes dhcpd puts in a status answer's "result" (ISC dhcp 4.4,
# includes/isc-dhcp/result.h + bind's isc/result.h).
_ISC_R_SUCCESS = 0
_ISC_R_NOTFOUND = 23
_ISC_R_NOKEYS = 39  # "no key": the authenticator was refused
_DHCP_R_INVALIDKEY = 66  # "invalid key"


# Digest and signature length per algorithm. pypureomapi signs with HMAC-MD5 only;
# dhcpd 4.4.3 also accepts HMAC-SHA256/512 keys for OMAPI, named on the wire with
# the ".SIG-ALG.REG.INT." suffix (measured: "hmac-sha256" alone is refused).
ALGORITHMS: dict[str, tuple[str, int]] = {
    "hmac-md5": ("md5", 16),
    "hmac-sha1": ("sha1", 20),
    "hmac-sha256": ("sha256", 32),
    "hmac-sha512": ("sha512", 64),
}


@dataclass(frozen=True)
class OmapiKey:
    """An OMAPI key as dhcpd.conf declares it: ``key NAME { algorithm A; secret "S"; }``.

    ``secret`` is the base64 text from dhcpd.conf. It is kept out of ``repr`` so a key
    never lands in a log line or a traceback.
    """

    name: str
    secret: str = field(repr=False)
    algorithm: str = "hmac-md5"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"OMAPI key {self.name!r}: algorithm {self.algorithm!r} is not one of "
                f"{', '.join(sorted(ALGORITHMS))}"
            )
        try:
            raw = base64.b64decode(self.secret, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"OMAPI key {self.name!r}: the secret is not valid base64") from None
        if not raw:
            raise ValueError(f"OMAPI key {self.name!r}: the secret is empty")

    @property
    def secret_bytes(self) -> bytes:
        return base64.b64decode(self.secret)


class _HMACAuthenticator(_pom.OmapiAuthenticatorBase):  # type: ignore[misc]
    """pypureomapi's authenticator interface for any HMAC dhcpd accepts (see ALGORITHMS)."""

    def __init__(self, key: OmapiKey) -> None:
        super().__init__()
        digest, self.authlen = ALGORITHMS[key.algorithm]
        self._digest = getattr(hashlib, digest)
        self._name = key.name.encode()
        self._secret = key.secret_bytes
        self.algorithm = f"{key.algorithm}.SIG-ALG.REG.INT.".encode()

    def auth_object(self) -> dict[bytes, bytes]:
        return {b"name": self._name, b"algorithm": self.algorithm}

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self._secret, message, self._digest).digest()


# -- what a refused connect tells: a TCP reset or an ICMP error -----------------------------
#
# Linux reports an ICMP port-unreachable answer to our SYN with the same ECONNREFUSED as a
# TCP reset (facts file, third round), so the errno alone cannot prove a stopped dhcpd.
# With the socket option IP_RECVERR (ip(7); value 11 at SOL_IP) the kernel also queues the
# ICMP error on the socket, readable with recvmsg(MSG_ERRQUEUE) after the failed connect;
# a reset queues nothing. Measured here (kernel 6.18, nftables 1.0.6 in the primary's
# namespace, connecting from the root namespace through the lab's router):
#   no rule, dhcpd stopped            ECONNREFUSED, queue empty
#   reject with tcp reset             ECONNREFUSED, queue empty (indistinguishable)
#   reject (default), icmpx port-u.   ECONNREFUSED, ICMP 3/3 from the primary's address
#   reject with icmp admin-prohibited EHOSTUNREACH, ICMP 3/13 from the primary's address
#   reject with icmp host-prohibited  EHOSTUNREACH, ICMP 3/10 from the primary's address
#   the same rules on the router      the same, from the router's address
#   drop                              timeout, queue empty
#   link down / no such host          EHOSTUNREACH after ~3 s, ICMP 3/1 from the router
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)  # linux/in.h; Python defines it on Linux
_SO_EE_ORIGIN_ICMP = 2  # linux/errqueue.h
# struct sock_extended_err (linux/errqueue.h): ee_errno, ee_origin, ee_type, ee_code,
# ee_pad, ee_info, ee_data; the offender's struct sockaddr_in follows it
_EXTENDED_ERR = struct.Struct("=IBBBBII")
_ICMP_DEST_UNREACH = 3
_UNREACH_NAMES = {0: "net-unreachable", 1: "host-unreachable", 2: "prot-unreachable",
                  3: "port-unreachable", 9: "net-prohibited", 10: "host-prohibited",
                  13: "admin-prohibited"}  # RFC 792/1812 codes, named as nft(8) names them
# Destination-unreachable codes that only a filter sends for TCP: Linux answers a SYN to
# a closed port with a reset, never with ICMP port- or protocol-unreachable, and the
# "prohibited" codes are what reject rules send (nft(8), REJECT STATEMENT). Net- and
# host-unreachable are what a router says when it has no route or no ARP answer (measured
# for a cut link): a dead host and a partition, not a filter.
_FILTER_CODES = frozenset({2, 3, 9, 10, 13, 14, 15})


@dataclass(frozen=True)
class IcmpError:
    """The ICMP error the kernel queued for a connection (IP_RECVERR)."""

    errno: int  # what the kernel made of it (ECONNREFUSED, EHOSTUNREACH, ...)
    icmp_type: int
    icmp_code: int
    offender: str | None  # the address the ICMP error came from

    @property
    def name(self) -> str:
        if self.icmp_type == _ICMP_DEST_UNREACH and self.icmp_code in _UNREACH_NAMES:
            return _UNREACH_NAMES[self.icmp_code]
        return f"type {self.icmp_type} code {self.icmp_code}"

    @property
    def from_a_filter(self) -> bool:
        return self.icmp_type == _ICMP_DEST_UNREACH and self.icmp_code in _FILTER_CODES

    @property
    def what(self) -> str:
        return f"ICMP {self.name} (type {self.icmp_type}, code {self.icmp_code})"

    def __str__(self) -> str:
        return f"{self.what} from {self.offender or 'an unknown address'}"


def decode_extended_error(data: bytes) -> IcmpError | None:
    """The ICMP error of one IP_RECVERR control message (struct sock_extended_err, then
    the offender's sockaddr_in); None if the error did not come from ICMP."""
    if len(data) < _EXTENDED_ERR.size:
        raise ValueError(f"an IP_RECVERR message of {len(data)} bytes is too short "
                         f"(struct sock_extended_err has {_EXTENDED_ERR.size})")
    ee_errno, origin, type_, code, _pad, _info, _data = _EXTENDED_ERR.unpack_from(data)
    if origin != _SO_EE_ORIGIN_ICMP:
        return None
    offender = None
    at = _EXTENDED_ERR.size
    if len(data) >= at + 8 and struct.unpack_from("=H", data, at)[0] == socket.AF_INET:
        offender = socket.inet_ntoa(data[at + 4:at + 8])
    return IcmpError(ee_errno, type_, code, offender)


class _ErrorQueueUnreadable(Exception):
    """The socket's error queue could not be read: no proof either way."""


def _queued_icmp_error(sock: socket.socket) -> IcmpError | None:
    """The ICMP error queued on ``sock`` after a failed connect; None if nothing is
    queued (a TCP reset). Non-blocking: with a timeout set, CPython waits for the socket to
    turn readable before each try, and an empty queue then costs the whole timeout."""
    sock.setblocking(False)
    try:
        _data, ancillary, _flags, _addr = sock.recvmsg(0, 512, socket.MSG_ERRQUEUE)
    except BlockingIOError:
        return None
    except OSError as exc:
        raise _ErrorQueueUnreadable(str(exc)) from exc
    for level, kind, data in ancillary:
        if level == socket.SOL_IP and kind == _IP_RECVERR:
            try:
                found = decode_extended_error(data)
            except ValueError as exc:
                raise _ErrorQueueUnreadable(str(exc)) from exc
            if found is not None:
                return found
    raise _ErrorQueueUnreadable("a queued error that did not come from ICMP")


class _ConnectedTransport(_pom.TCPClientTransport):  # type: ignore[misc]
    """pypureomapi's transport over a socket we connected ourselves (see _open_socket)."""

    def __init__(self, protocol: _pom.OmapiProtocol, sock: socket.socket) -> None:
        # Deliberately not TCPClientTransport.__init__, which makes and connects a socket
        # of its own; the rest of the class (write, fill_inbuffer, close) is pypureomapi's.
        self.protocol = protocol
        self.connection: socket.socket | None = sock
        protocol.connection_made(self)


class _OmapiOnSocket(_pom.Omapi):  # type: ignore[misc]
    """pypureomapi's Omapi over an already connected socket: its constructor (1.1) minus
    the connect. Everything after the connect (greeting, authenticator, messages) stays
    pypureomapi's."""

    def __init__(self, host: str, port: int, sock: socket.socket) -> None:
        self.hostname = host
        self.port = port
        self.protocol = _pom.OmapiProtocol()
        self.recv_message_queue: list[_pom.OmapiMessage | None] = []
        self.protocol.startup_completed = lambda: self.recv_message_queue.append(None)
        self.protocol.message_received = self.recv_message_queue.append
        self.transport = _ConnectedTransport(self.protocol, sock)
        self.recv_protocol_initialization()


@dataclass(frozen=True)
class OmapiObject:
    """An object as dhcpd answered it: its handle and raw attributes (name -> bytes)."""

    handle: int
    attrs: dict[str, bytes]


@dataclass
class RawSession:
    """What a pipelined scan needs of an authenticated connection (see omapifo._scan).

    Valid only inside ``OmapiPeer.raw_session()``; the scan owns the socket meanwhile.
    """

    sock: socket.socket
    authid: int
    sign: Callable[[bytes], bytes]
    authlen: int
    label: str


def _u32(value: int) -> bytes:
    return struct.pack("!I", value)


class OmapiPeer:
    """One OMAPI connection to one dhcpd, safe to share between threads.

        peer = OmapiPeer("198.18.10.253", 7911, OmapiKey("omapi_key", secret), label="primary")
        obj = peer.open("failover-state", [("name", b"classroom-1-6")])
        obj.attrs["local-state"]            # b"\\x00\\x00\\x00\\x02": normal

    Connects lazily, reconnects once when the connection turns out broken (dhcpd was
    restarted), and holds a lock for each request so threads never interleave on the
    socket (the facts file: dhcpd 4.4.3 aborts when unanswered requests pile up).
    """

    def __init__(
        self,
        host: str,
        port: int,
        key: OmapiKey,
        *,
        label: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.key = key
        self.label = label or f"{host}:{port}"
        self.timeout = timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else timeout
        self._conn: _pom.Omapi | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OmapiPeer({self.label!r}, {self.host}:{self.port})"

    def clone(self) -> OmapiPeer:
        """A new peer with the same settings and its own connection (for long scans)."""
        return OmapiPeer(
            self.host, self.port, self.key, label=self.label,
            timeout=self.timeout, connect_timeout=self.connect_timeout,
        )

    # -- connection -------------------------------------------------------------------

    def __enter__(self) -> OmapiPeer:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def _connect(self, operation: str) -> _pom.Omapi:
        if self._conn is not None and self._conn.transport.connection is not None:
            return self._conn
        self._drop()
        sock = self._open_socket(operation)
        try:
            conn = _OmapiOnSocket(self.host, self.port, sock)
        except Exception as exc:  # noqa: BLE001 - every failure becomes ours
            sock.close()
            raise self._map_connect_error(exc, operation) from exc
        try:
            conn.initialize_authenticator(_HMACAuthenticator(self.key))
        except Exception as exc:  # noqa: BLE001
            conn.close()
            raise self._map_auth_error(exc, operation) from exc
        sock.settimeout(self.timeout)
        self._conn = conn
        return conn

    def _open_socket(self, operation: str) -> socket.socket:
        """A TCP connection to the peer, or the error that says what answered instead.

        pypureomapi connects in its own constructor, on a socket of its own, and only the
        errno of a failed connect escapes; the ICMP error that tells a filter from a
        stopped dhcpd is gone with that socket. So we connect, with IP_RECVERR set, and
        hand the connected socket to pypureomapi (_OmapiOnSocket): the evidence comes from
        the very attempt that failed. (A second connect of our own after pypureomapi's was
        refused would cost another SYN per failure, and the peer or the filter could
        change in between.)
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.connect_timeout)
            try:
                sock.setsockopt(socket.SOL_IP, _IP_RECVERR, 1)
                recverr = True
            except OSError:  # not Linux: a refusal then proves nothing (see below)
                recverr = False
            try:
                sock.connect((self.host, self.port))
            except OSError as exc:
                raise self._map_socket_error(sock, exc, recverr, operation) from exc
            if recverr:
                # Only for the connect: on an open connection IP_RECVERR makes TCP treat
                # ICMP errors as fatal (tcp_v4_err; measured: ECONNREFUSED after 0.2 s
                # instead of the timeout), where RFC 1122 4.2.3.9 has them soft, so a
                # passing ICMP error of a router would abort a scan.
                sock.setsockopt(socket.SOL_IP, _IP_RECVERR, 0)
            # pypureomapi's own socket had no TCP_NODELAY: small requests then waited on
            # Nagle + delayed ACK (~40 ms) whenever two writes went out back to back.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        return sock

    def _map_socket_error(self, sock: socket.socket, exc: OSError, recverr: bool,
                          operation: str) -> PeerError:
        """What a failed connect tells: a reset (ConnectionRefused), a filter's ICMP error
        (ConnectionRejected), or no connection (PeerUnreachable, PeerTimeout)."""
        where = f"{self.host}:{self.port}"
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return PeerTimeout(
                f"no answer to the connection to {where} within {self.connect_timeout:g} s "
                "(peer down, link cut, or a firewall that drops)",
                peer=self.label, operation=operation)
        icmp: IcmpError | None = None
        unreadable = None if recverr else "IP_RECVERR is not available here"
        if recverr:
            try:
                icmp = _queued_icmp_error(sock)
            except _ErrorQueueUnreadable as why:
                unreadable = str(why)
        if icmp is not None and icmp.from_a_filter:
            return ConnectionRejected(
                f"a filter at {icmp.offender or 'an unknown address'}{self._whose(icmp)} "
                "rejected the "
                f"connection to {where} with {icmp.what}: a firewall answered, not dhcpd, which "
                "may be running and serving", peer=self.label, operation=operation,
                offender=icmp.offender, icmp_type=icmp.icmp_type, icmp_code=icmp.icmp_code)
        if icmp is not None:
            return PeerUnreachable(f"cannot connect to {where}: {exc.strerror or exc} "
                                   f"({icmp})", peer=self.label, operation=operation)
        if exc.errno == errno.ECONNREFUSED and unreadable is None:
            # A TCP reset and no ICMP error (measured: a stopped dhcpd, its host up). A
            # firewall's `reject with tcp reset` sends the same reset: indistinguishable.
            return ConnectionRefused(
                f"connection to {where} refused with a TCP reset (dhcpd not running, or "
                "omapi-port not set, or a firewall rule that resets)", peer=self.label,
                operation=operation)
        if exc.errno == errno.ECONNREFUSED:
            return PeerUnreachable(f"connection to {where} refused, and whether by a TCP "
                                   f"reset or an ICMP error cannot be told ({unreadable})",
                                   peer=self.label, operation=operation)
        return PeerUnreachable(f"cannot connect to {where}: {exc.strerror or exc}",
                               peer=self.label, operation=operation)

    def _whose(self, icmp: IcmpError) -> str:
        """Whose address the ICMP error came from, when the peer is configured by address."""
        try:
            host = socket.inet_aton(self.host)
        except OSError:
            return ""  # a host name: its address is not known here
        if icmp.offender is None:
            return ""
        return (" (the peer's own address)" if socket.inet_aton(icmp.offender) == host
                else " (a router on the way)")

    def _map_connect_error(self, exc: Exception, operation: str) -> PeerError:
        """What a failure during the OMAPI greeting (the TCP connection made) tells."""
        where = f"{self.host}:{self.port}"
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return PeerTimeout(
                f"no OMAPI greeting from {where} within {self.connect_timeout:g} s "
                "(peer down, link cut, or not an OMAPI port)",
                peer=self.label, operation=operation)
        if isinstance(exc, OSError):
            return PeerUnreachable(f"cannot connect to {where}: {exc.strerror or exc}",
                                   peer=self.label, operation=operation)
        if isinstance(exc, _pom.OmapiError) and "closed" in str(exc):
            return PeerUnreachable(f"{where} closed the connection during the OMAPI greeting",
                                   peer=self.label, operation=operation)
        return ProtocolError(f"{where} does not speak OMAPI ({exc})",
                             peer=self.label, operation=operation)

    def _map_auth_error(self, exc: Exception, operation: str) -> PeerError:
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return PeerTimeout(f"no answer to the OMAPI authentication within "
                               f"{self.connect_timeout:g} s", peer=self.label, operation=operation)
        if isinstance(exc, OSError) or "closed" in str(exc):
            return PeerUnreachable(f"connection lost during OMAPI authentication: {exc}",
                                   peer=self.label, operation=operation)
        if "non-update response" in str(exc) or "invalid authid" in str(exc):
            # dhcpd answers a key it does not know (name or algorithm) with a status
            # instead of an update (measured against dhcpd 4.4.3; a wrong secret only
            # shows on the next request, see _with_reconnect).
            return AuthenticationFailed(
                f"authentication failed: dhcpd at {self.host}:{self.port} did not accept OMAPI "
                f"key {self.key.name!r} ({self.key.algorithm}); check key name, secret and "
                "algorithm against dhcpd.conf's key statement", peer=self.label,
                operation=operation)
        return ProtocolError(f"{self.host}:{self.port} answered the OMAPI authentication with "
                             f"something else ({exc}): is this dhcpd's omapi-port?",
                             peer=self.label, operation=operation)

    # -- requests ---------------------------------------------------------------------

    def open(self, type_: str, lookup: Sequence[tuple[str, bytes]], *,
             operation: str | None = None) -> OmapiObject:
        """Open the object of ``type_`` matching ``lookup``; NotFound if dhcpd has none."""
        op = operation or f"open {type_}"
        with self._lock:
            return self._with_reconnect(op, lambda conn: self._open(conn, type_, lookup, op))

    def update(self, type_: str, lookup: Sequence[tuple[str, bytes]],
               changes: Sequence[tuple[str, bytes]], *, operation: str | None = None,
               expect_answer: bool = True) -> OmapiObject | None:
        """Open an object and update it in one locked exchange; returns the answer.

        Open and update share the connection, since a handle is only valid on the
        connection that opened it. Our updates set absolute values (a state number),
        so retrying once after a reconnect cannot apply anything twice.
        ``expect_answer=False`` is for the control object, which dhcpd does not answer
        when it shuts down: a closed connection or a timeout is then success.
        """
        op = operation or f"update {type_}"

        def run(conn: _pom.Omapi) -> OmapiObject | None:
            obj = self._open(conn, type_, lookup, op)
            msg = _pom.OmapiMessage.update(obj.handle)
            msg.obj.extend((k.encode(), v) for k, v in changes)
            if not expect_answer:
                conn.send_message(msg)
                try:
                    conn.receive_response(msg)
                except (OSError, _pom.OmapiError):
                    pass
                self._drop()
                return None
            return self._answer(conn.query_server(msg), op, type_)

        with self._lock:
            return self._with_reconnect(op, run)

    def create(self, type_: str, attrs: Sequence[tuple[str, bytes]], *,
               operation: str | None = None) -> OmapiObject:
        """Create an object (an open with ``create`` and ``exclusive`` set, as omshell's
        ``create`` does): Refused when dhcpd already has one matching ``attrs``.

        Not retried after a reconnect: a create whose answer was lost may have been made,
        and a second one would be refused as existing; the caller reads back instead.
        Measured with dhcpd 4.4.3: a host whose name exists answers "specified object
        already exists" (same values) or "can't update object" (other values), a new
        name with a MAC another host has answers "object lookup failed"; a host with
        another host's fixed-address is accepted.
        """
        op = operation or f"create {type_}"

        def run(conn: _pom.Omapi) -> OmapiObject:
            msg = _pom.OmapiMessage.open(type_.encode())
            msg.message.extend([(b"create", _u32(1)), (b"exclusive", _u32(1))])
            msg.obj.extend((k.encode(), v) for k, v in attrs)
            return self._answer(conn.query_server(msg), op, type_)

        with self._lock:
            # A fresh connection: a cached one that died (dhcpd restarted) would only show
            # it after the request was written, and a create is not repeated.
            self._drop()
            return self._with_reconnect(op, run, retry=False)

    def delete(self, type_: str, lookup: Sequence[tuple[str, bytes]], *,
               operation: str | None = None) -> None:
        """Open the object matching ``lookup`` and delete it in one locked exchange
        (a handle is only valid on its connection); NotFound if dhcpd has none."""
        op = operation or f"delete {type_}"

        def run(conn: _pom.Omapi) -> None:
            obj = self._open(conn, type_, lookup, op)
            self._answer(conn.query_server(_pom.OmapiMessage.delete(obj.handle)), op, type_)

        with self._lock:
            self._with_reconnect(op, run)

    def _open(self, conn: _pom.Omapi, type_: str, lookup: Sequence[tuple[str, bytes]],
              op: str) -> OmapiObject:
        msg = _pom.OmapiMessage.open(type_.encode())
        msg.obj.extend((k.encode(), v) for k, v in lookup)
        return self._answer(conn.query_server(msg), op, type_)

    def _answer(self, response: _pom.OmapiMessage, op: str, type_: str) -> OmapiObject:
        if response.opcode == _pom.OMAPI_OP_UPDATE:
            return OmapiObject(response.handle, {k.decode(): v for k, v in response.obj})
        if response.opcode == _pom.OMAPI_OP_STATUS:
            status = dict(response.message)
            code = struct.unpack("!I", status[b"result"])[0] if len(
                status.get(b"result", b"")) == 4 else None
            text = status.get(b"message", b"").decode(errors="replace") or f"result {code}"
            if code == _ISC_R_SUCCESS:
                # dhcpd answers a successful update with a status, not an update (measured)
                return OmapiObject(response.handle, {})
            if code == _ISC_R_NOTFOUND or text == "not found":
                raise NotFound(f"dhcpd has no such {type_}", peer=self.label, operation=op)
            if code in (_ISC_R_NOKEYS, _DHCP_R_INVALIDKEY):
                raise AuthenticationFailed(f"dhcpd refused the OMAPI key: {text}",
                                           peer=self.label, operation=op)
            raise Refused(f"dhcpd refused: {text}", peer=self.label, operation=op)
        raise ProtocolError(f"unexpected OMAPI answer (opcode {response.opcode})",
                            peer=self.label, operation=op)

    def _with_reconnect(self, op: str, run: Callable[[_pom.Omapi], _T], *,
                        retry: bool = True) -> _T:
        """Run ``run(conn)``; on a broken connection reconnect and run it once more
        (unless ``retry`` is False)."""
        for attempt in ((1, 2) if retry else (2,)):
            reused = self._conn is not None
            conn = self._connect(op)
            try:
                return run(conn)
            except PeerError:
                raise
            except (socket.timeout, TimeoutError) as exc:
                # A timed-out request may still be answered later: the stream is now
                # out of step, so the connection is dropped, never reused.
                self._drop()
                raise PeerTimeout(f"no answer within {self.timeout:g} s",
                                  peer=self.label, operation=op) from exc
            except (OSError, _pom.OmapiError, struct.error, AssertionError) as exc:
                self._drop()
                broken = isinstance(exc, OSError) or "closed" in str(exc) \
                    or "not connected" in str(exc)
                if broken and reused and attempt == 1:
                    continue  # the cached connection died (dhcpd restarted): once more
                if broken:
                    raise PeerUnreachable(f"connection lost: {exc}", peer=self.label,
                                          operation=op) from exc
                if "wrong authenticator" in str(exc):
                    # dhcpd could not verify our signature and answered unsigned: the
                    # key name and algorithm matched but the secret did not (measured).
                    raise AuthenticationFailed(
                        f"authentication failed: dhcpd did not accept the secret of OMAPI key "
                        f"{self.key.name!r}; check it against dhcpd.conf's key statement",
                        peer=self.label, operation=op) from exc
                if "signature" in str(exc):
                    raise ProtocolError("an answer's signature did not verify with our key",
                                        peer=self.label, operation=op) from exc
                raise ProtocolError(f"malformed OMAPI answer: {exc}", peer=self.label,
                                    operation=op) from exc
        raise AssertionError("unreachable")

    @contextmanager
    def raw_session(self, operation: str = "scan") -> Iterator[RawSession]:
        """Hold the lock and hand the authenticated socket to a pipelined scan.

        Used by :mod:`omapifo._scan`, whose lean codec replaces pypureomapi's parser on
        the hot path. The connection is dropped afterwards whatever happened, so a
        half-read pipeline can never leak into the next request.
        """
        with self._lock:
            conn = self._connect(operation)
            auth = conn.protocol.authenticators[conn.protocol.defauth]
            sock = conn.transport.connection
            assert sock is not None
            try:
                yield RawSession(sock, auth.authid, auth.sign, auth.authlen, self.label)
            finally:
                self._drop()


def u32(value: int) -> bytes:
    """An integer attribute as OMAPI sends it: 4 bytes, big-endian."""
    return _u32(value)


# -- the objects and attributes the library uses, spelled once here ------------------------
#
# Above this layer nothing names an OMAPI object type or attribute: callers build lookups
# and changes with the functions below and get models back from omapifo._wire
# (tests/test_layers.py checks the source).

# Every object type and attribute omapifo reads or sends (dhcpd(8), THE OMAPI OBJECTS, and
# the facts file's measurements). Lookup and Update check theirs against it, so a misspelt
# name fails here rather than as dhcpd's "not found".
ATTRIBUTES: dict[str, frozenset[str]] = {
    "failover-state": frozenset({
        "name", "local-state", "partner-state", "local-stos", "partner-stos", "mclt",
        "max-response-delay", "max-outstanding-updates", "load-balance-max-secs",
        "hierarchy", "skew", "cur-unacked-updates", "local-port", "partner-port"}),
    "lease": frozenset({
        "ip-address", "state", "hardware-address", "hardware-type", "dhcp-client-identifier",
        "client-hostname", "starts", "ends", "tstp", "tsfp", "atsfp", "cltt"}),
    "host": frozenset({"name", "ip-address", "hardware-address", "hardware-type",
                       "dhcp-client-identifier"}),
    "control": frozenset({"state"}),
}

# dhcpd(8), THE CONTROL OBJECT: setting its state to 2 shuts dhcpd down cleanly
CONTROL_SHUTDOWN = 2
# the hardware-type of an Ethernet MAC (RFC 1700 ARP hardware type 1; what dhcpd.leases
# writes as "hardware ethernet")
HTYPE_ETHERNET = 1

Attrs = tuple[tuple[str, bytes], ...]


def _check(type_: str, attrs: Attrs) -> None:
    known = ATTRIBUTES.get(type_)
    if known is None:
        raise ValueError(f"{type_!r} is not an OMAPI object type omapifo uses")
    unknown = [k for k, _ in attrs if k not in known]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not an attribute of dhcpd's {type_} object")


@dataclass(frozen=True)
class Lookup:
    """An object as an OMAPI open names it: its type and attributes. A lookup finds the
    object by them (OmapiPeer.open, .update, .delete); a create makes one with them
    (OmapiPeer.create)."""

    type: str
    attrs: Attrs

    def __post_init__(self) -> None:
        _check(self.type, self.attrs)


@dataclass(frozen=True)
class Update:
    """A change of one object: the object, the attributes to set, and whether dhcpd
    answers it (it never answers the control object's shutdown)."""

    lookup: Lookup
    changes: Attrs
    expect_answer: bool = True

    def __post_init__(self) -> None:
        _check(self.lookup.type, self.changes)


# -- what users type: addresses, MACs, client ids, host names -------------------------------

# used with fullmatch: "$" would also match before a final newline ("aa:..:ff\n")
_MAC_RE = re.compile(r"[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}")
_HEX_RE = re.compile(r"[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2})*")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def parse_ip(text: str) -> ipaddress.IPv4Address:
    """An IPv4 address, or ValueError saying what is wrong (IPv6 included)."""
    try:
        addr = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 address") from None
    if addr.version != 4:
        raise ValueError(f"{text!r} is IPv6; dhcpd's DHCPv4 leases have IPv4 addresses")
    return addr


def parse_mac(text: str) -> bytes:
    """``aa:bb:cc:dd:ee:ff`` (or with '-') as 6 bytes, or ValueError."""
    if not _MAC_RE.fullmatch(str(text).strip()):
        raise ValueError(f"{text!r} is not a MAC address (expected aa:bb:cc:dd:ee:ff)")
    return bytes(int(h, 16) for h in re.split("[:-]", text.strip()))


def parse_client_id(text: str) -> bytes:
    """A DHCP client identifier as colon-separated hex (``01:aa:bb:..``), or ValueError."""
    if not _HEX_RE.fullmatch(str(text).strip()):
        raise ValueError(f"{text!r} is not a client identifier (expected hex bytes like "
                         "01:aa:bb:cc:dd:ee:ff)")
    return bytes(int(h, 16) for h in text.strip().split(":"))


def parse_host_name(text: str) -> str:
    """A host name dhcpd writes unquoted to dhcpd.leases (letters, digits, ``.-_``), or
    ValueError: a name dhcpd would quote, or with spaces, is refused rather than guessed."""
    if not _NAME_RE.fullmatch(str(text)):
        raise ValueError(f"{text!r} is not a host name (letters, digits, '.', '-', '_'; "
                         "at most 63 characters, starting with a letter or digit)")
    return str(text)


def hex_bytes(raw: bytes) -> str:
    """Bytes as dhcpd writes a MAC or a client identifier: ``aa:bb:cc``."""
    return ":".join(f"{b:02x}" for b in raw)


def hex_or_none(raw: bytes | None) -> str | None:
    """An attribute dhcpd may leave out or send empty, as :func:`hex_bytes`; else None."""
    return hex_bytes(raw) if raw else None


# -- lookups and changes ---------------------------------------------------------------------

def mac_attrs(mac: bytes) -> Attrs:
    """A lease's or a host's Ethernet MAC (6 bytes) as dhcpd matches it: a lookup by MAC,
    and a new host's MAC as pypureomapi's add_host sends it."""
    return ("hardware-address", mac), ("hardware-type", _u32(HTYPE_ETHERNET))


_BY: dict[str, Callable[[str], Attrs]] = {
    "name": lambda text: (("name", parse_host_name(text).encode()),),
    "ip": lambda text: (("ip-address", parse_ip(text).packed),),
    "mac": lambda text: mac_attrs(parse_mac(text)),
    "client_id": lambda text: (("dhcp-client-identifier", parse_client_id(text)),),
}


def _by_one(type_: str, what: str, given: dict[str, str | None]) -> Lookup:
    keys = [(k, v) for k, v in given.items() if v is not None]
    if len(keys) != 1:
        raise ValueError(f"give exactly one of {what}")
    key, value = keys[0]
    return Lookup(type_, _BY[key](value))


def lease_lookup(ip: str | None = None, *, mac: str | None = None,
                 client_id: str | None = None) -> Lookup:
    """The lookup of a lease by exactly one of its address, MAC or client id; ValueError
    for bad input (before any traffic)."""
    return _by_one("lease", "an IP address, mac= or client_id=",
                   {"ip": ip, "mac": mac, "client_id": client_id})


def host_lookup(name: str | None = None, *, mac: str | None = None, ip: str | None = None,
                client_id: str | None = None) -> Lookup:
    """The lookup of a host by exactly one of its name, MAC, address (dhcpd finds it only
    through a lease of that address: omapifo._hosts) or client id; ValueError otherwise."""
    return _by_one("host", "a host name, mac=, ip= or client_id=",
                   {"name": name, "mac": mac, "ip": ip, "client_id": client_id})


def new_host(name: str, ip: ipaddress.IPv4Address | None, mac: str | None,
             client_id: str | None) -> Lookup:
    """The host object a create sends, as pypureomapi's add_host sends it (plus its name)."""
    attrs: list[tuple[str, bytes]] = [("name", name.encode())]
    if mac:
        attrs += mac_attrs(parse_mac(mac))
    if client_id:
        attrs.append(("dhcp-client-identifier", parse_client_id(client_id)))
    if ip is not None:
        attrs.append(("ip-address", ip.packed))
    return Lookup("host", tuple(attrs))


def failover_state_lookup(peer_name: str) -> Lookup:
    """The lookup of the failover-state object of the ``failover peer`` named so."""
    return Lookup("failover-state", (("name", peer_name.encode()),))


def local_state_update(peer_name: str, state: int) -> Update:
    """The update of a failover-state object that moves its server to ``state`` (a
    FailoverState; dhcpd(8), THE FAILOVER-STATE OBJECT: dhcpd applies it unchecked)."""
    return Update(failover_state_lookup(peer_name), (("local-state", _u32(state)),))


def shutdown_update() -> Update:
    """The update of the control object that shuts dhcpd down (it never answers it)."""
    return Update(Lookup("control", ()), (("state", _u32(CONTROL_SHUTDOWN)),),
                  expect_answer=False)


def lease_state_update(ip: str, state: int) -> Update:
    """The update of the lease of ``ip`` to binding state ``state`` (a LeaseState; dhcpd
    takes 1 free to 7 backup)."""
    return Update(lease_lookup(ip), (("state", _u32(state)),))
