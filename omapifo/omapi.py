"""The OMAPI protocol layer: one authenticated, locked connection to one dhcpd.

This is the only module that imports pypureomapi. pypureomapi connects and
authenticates in its constructor, has no lock, no reconnect, and lets raw
``socket.error``/``struct.error`` escape; :class:`OmapiPeer` adds those and turns every
failure into :mod:`omapifo.errors`. Above this layer nothing sees pypureomapi.

Objects come back as :class:`OmapiObject` (the handle and the raw attribute bytes);
the model modules (:mod:`omapifo.states`, :mod:`omapifo.leases`) decode them.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

import pypureomapi as _pom  # type: ignore[import-untyped]  # ships no type information

from .errors import (
    AuthenticationFailed,
    ConnectionRefused,
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


@dataclass(frozen=True)
class OmapiObject:
    """An object as dhcpd answered it: its handle and raw attributes (name -> bytes)."""

    handle: int
    attrs: dict[str, bytes]


@dataclass
class RawSession:
    """What a pipelined scan needs of an authenticated connection (see omapifo.scan).

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
        try:
            conn = _pom.Omapi(self.host, self.port, timeout=self.connect_timeout)
        except Exception as exc:  # noqa: BLE001 - every failure becomes ours
            raise self._map_connect_error(exc, operation) from exc
        sock = conn.transport.connection
        assert sock is not None
        # pypureomapi's socket has no TCP_NODELAY: small requests then wait on
        # Nagle + delayed ACK (~40 ms) whenever two writes go out back to back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn.initialize_authenticator(_HMACAuthenticator(self.key))
        except Exception as exc:  # noqa: BLE001
            conn.close()
            raise self._map_auth_error(exc, operation) from exc
        sock.settimeout(self.timeout)
        self._conn = conn
        return conn

    def _map_connect_error(self, exc: Exception, operation: str) -> PeerError:
        where = f"{self.host}:{self.port}"
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return PeerTimeout(
                f"no OMAPI greeting from {where} within {self.connect_timeout:g} s "
                "(peer down, link cut, or not an OMAPI port)",
                peer=self.label, operation=operation)
        if isinstance(exc, ConnectionRefusedError):
            # A TCP reset from the host (measured in the lab: a stopped dhcpd, its host up).
            # A cut link or a dead host gives "no route" or a timeout instead; the guards
            # tell these apart (omapifo.evidence).
            return ConnectionRefused(f"connection to {where} refused (dhcpd not running, "
                                     "or omapi-port not set)", peer=self.label,
                                     operation=operation)
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

        Used by :mod:`omapifo.scan`, whose lean codec replaces pypureomapi's parser on
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


def ip_bytes(ip: str) -> bytes:
    """An IPv4 address as the 4 bytes OMAPI expects."""
    return socket.inet_aton(ip)


def u32(value: int) -> bytes:
    """An integer attribute as OMAPI sends it: 4 bytes, big-endian."""
    return _u32(value)
