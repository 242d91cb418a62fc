"""omapifo._omapi: authentication, error mapping; against fake servers on loopback and the lab."""
from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import threading
import time

import pypureomapi
import pytest

from omapifo import (AuthenticationFailed, ConnectionRefused, Evidence, FailoverPair,
                     FailoverState, NotFound, OmapiKey, OmapiPeer, PeerTimeout, PeerUnreachable,
                     ProtocolError, Role)
from omapifo._omapi import _HMACAuthenticator

from .conftest import build_lab

SECRET = base64.b64encode(b"k" * 32).decode()


def test_md5_signature_matches_pypureomapis():
    ours = _HMACAuthenticator(OmapiKey("omapi_key", SECRET))
    theirs = pypureomapi.OmapiHMACMD5Authenticator(b"omapi_key", SECRET.encode())
    msg = pypureomapi.OmapiMessage.open(b"lease").as_string(forsigning=True)
    assert ours.sign(msg) == theirs.sign(msg)
    assert ours.auth_object() == theirs.auth_object()


@pytest.mark.parametrize("alg,length,digest", [("hmac-sha256", 32, hashlib.sha256),
                                               ("hmac-sha512", 64, hashlib.sha512)])
def test_sha_authenticators(alg, length, digest):
    auth = _HMACAuthenticator(OmapiKey("k", SECRET, alg))
    assert auth.authlen == length
    assert auth.auth_object()[b"algorithm"] == f"{alg}.SIG-ALG.REG.INT.".encode()
    assert auth.sign(b"m") == hmac.new(b"k" * 32, b"m", digest).digest()


def test_key_validation_and_secret_never_in_repr():
    with pytest.raises(ValueError, match="base64"):
        OmapiKey("k", "***")
    with pytest.raises(ValueError, match="algorithm"):
        OmapiKey("k", SECRET, "hmac-md4")
    assert SECRET not in repr(OmapiKey("k", SECRET))


class FakeServer:
    """A TCP server on loopback that answers every connection with ``greeting``."""

    def __init__(self, greeting: bytes | None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.greeting is not None:
                conn.sendall(self.greeting)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("greeting,error", [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", ProtocolError),  # a TCP service that is not OMAPI
    (None, PeerTimeout),                                     # one that says nothing
    (b"\x00\x00\x00\x64\x00\x00\x00\x18" + b"\x00" * 40, ProtocolError),  # OMAPI, then junk
])
def test_a_port_that_is_not_omapi_gives_a_clear_error_within_the_timeout(greeting, error):
    server = FakeServer(greeting)
    try:
        peer = OmapiPeer("127.0.0.1", server.port, OmapiKey("k", SECRET), timeout=0.5)
        t = time.monotonic()
        with pytest.raises(error) as info:
            peer.open("failover-state", [("name", b"x")])
        assert time.monotonic() - t < 2
        assert f"127.0.0.1:{server.port}" in str(info.value)
    finally:
        server.close()


def test_closed_port_is_unreachable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionRefused, match="refused"):
        OmapiPeer("127.0.0.1", port, OmapiKey("k", SECRET), timeout=0.5).open("lease", [])


# -- against the real pair --------------------------------------------------------------

@pytest.mark.integration
def test_wrong_secret_name_and_algorithm_read_as_authentication_failed(lab):
    ep = lab.endpoint(Role.PRIMARY)
    good = lab.key()
    for key in (OmapiKey(good.name, SECRET), OmapiKey("nokey", good.secret),
                OmapiKey(good.name, good.secret, "hmac-sha256")):
        peer = OmapiPeer(ep.host, ep.port, key, timeout=2)
        t = time.monotonic()
        with pytest.raises(AuthenticationFailed, match="authentication failed"):
            peer.open("failover-state", [("name", lab.settings.peer_name.encode())])
        assert time.monotonic() - t < 2.5


@pytest.mark.integration
def test_unreachable_address_inside_the_lab_times_out_within_the_timeout(lab):
    # an unused address in the lab's own primary subnet: routed into our namespace, no host
    host = str(lab.layout.server_net(Role.PRIMARY).network_address + 99)
    peer = OmapiPeer(host, 7911, lab.key(), timeout=1)
    t = time.monotonic()
    with pytest.raises(PeerTimeout) as raised:  # a refused connection would not do here
        peer.open("failover-state", [("name", b"x")])
    assert time.monotonic() - t < 1.5
    assert Evidence.of(raised.value) is Evidence.SILENT


@pytest.mark.integration
def test_not_found_and_reconnect_after_restart(healthy_lab):
    ep = healthy_lab.endpoint(Role.SECONDARY)
    peer = OmapiPeer(ep.host, ep.port, healthy_lab.key(), timeout=2)
    name = [("name", healthy_lab.settings.peer_name.encode())]
    assert peer.open("failover-state", name).attrs["local-state"] == b"\x00\x00\x00\x02"
    with pytest.raises(NotFound):
        peer.open("failover-state", [("name", b"no-such-peer")])
    healthy_lab.stop(Role.SECONDARY)
    with pytest.raises(ConnectionRefused):  # its host is up, its dhcpd is not
        peer.open("failover-state", name)
    healthy_lab.start(Role.SECONDARY, wait=False)
    deadline = time.monotonic() + 30
    while True:  # the same OmapiPeer reconnects on its own once dhcpd is back
        try:
            peer.open("failover-state", name)
            break
        except PeerUnreachable:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    peer.close()


@pytest.mark.integration
@pytest.mark.parametrize("algorithm", ["hmac-sha256", "hmac-sha512"])
def test_sha_keys_against_a_lab_configured_with_them(tmp_path_factory, algorithm):
    gen = build_lab(tmp_path_factory, algorithm[-3:], algorithm=algorithm)
    lab = next(gen)
    try:
        assert lab.pair_config().key.algorithm == algorithm
        with FailoverPair(lab.pair_config()) as pair:
            assert pair.state().primary.local_state is FailoverState.NORMAL
    finally:
        gen.close()
