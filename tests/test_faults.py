"""Faults against the real pair and against fake OMAPI servers: the library stays bounded.

Each test bounds its own time; the lab's fault controls (cut, throttle, pause) are undone
by ``heal`` in ``finally`` and ``healthy_lab`` restores both servers afterwards.
"""
from __future__ import annotations

import base64
import socket
import struct
import threading
import time

import pypureomapi
import pytest

from omapifo import (FailoverPair, FailoverState as S, OmapiKey, OmapiPeer, ProtocolError, Role)

from .conftest import open_fds

SECRET = base64.b64encode(b"s" * 32).decode()


@pytest.mark.integration
def test_fifty_polls_of_a_dead_peer_leak_no_socket_or_thread(healthy_lab):
    lab = healthy_lab
    with FailoverPair(lab.pair_config()) as pair:
        pair.state()  # connections and the pair's worker thread exist before we count
        lab.stop(Role.SECONDARY)
        pair.state()
        fds, threads = open_fds(), threading.active_count()
        for _ in range(50):
            st = pair.state()
            assert not st.secondary.reachable and st.primary.reachable
            assert st.secondary.error_kind == "ConnectionRefused"
        assert open_fds() <= fds + 1 and threading.active_count() <= threads
        lab.start(Role.SECONDARY, wait=False)
        deadline = time.monotonic() + 30
        while not pair.state().secondary.reachable:  # the same pair reconnects by itself
            assert time.monotonic() < deadline
            time.sleep(0.2)


@pytest.mark.integration
def test_a_cut_peer_times_out_within_the_timeout_and_the_survivor_notices(healthy_lab):
    lab = healthy_lab
    cfg = lab.pair_config()
    try:
        lab.cut(Role.PRIMARY)
        with FailoverPair(cfg) as pair:
            t = time.monotonic()
            st = pair.state()
            took = time.monotonic() - t
            assert not st.primary.reachable and st.primary.error_kind == "PeerTimeout"
            assert st.secondary.reachable
            assert took < cfg.timeout + 1.0
            # dhcpd notices after max-response-delay (15 s in the lab) without traffic
            deadline = time.monotonic() + lab.settings.max_response_delay + 20
            while pair.state().secondary.local_state is not S.COMMUNICATIONS_INTERRUPTED:
                assert time.monotonic() < deadline, "survivor never left normal"
                time.sleep(0.5)
    finally:
        lab.heal(Role.PRIMARY)
    lab.wait_normal(timeout=120)


@pytest.mark.integration
def test_a_slow_or_frozen_peer_answers_in_time_or_fails_cleanly(healthy_lab):
    lab = healthy_lab
    cfg = lab.pair_config()
    try:
        lab.throttle(Role.SECONDARY, "32kbit")
        with FailoverPair(cfg) as pair:
            for _ in range(5):
                t = time.monotonic()
                st = pair.state()
                assert time.monotonic() - t < cfg.timeout + 1.0
                assert st.secondary.reachable or st.secondary.error_kind == "PeerTimeout"
        lab.heal(Role.SECONDARY)
        lab.pause(Role.SECONDARY)  # dhcpd frozen: TCP connects, nothing answers
        with FailoverPair(cfg) as pair:
            t = time.monotonic()
            st = pair.state()
            assert time.monotonic() - t < cfg.timeout * 2 + 1.0  # connect + request at most
            assert st.secondary.error_kind == "PeerTimeout" and st.primary.reachable
    finally:
        lab.heal(Role.SECONDARY)
    lab.wait_normal(timeout=120)


class FakeOmapiServer:
    """Speaks enough OMAPI to authenticate, then answers with a wrong signature."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _read_message(self, conn: socket.socket) -> pypureomapi.OmapiMessage:
        buf = pypureomapi.InBuffer()
        parser = buf.parse_message()
        while True:
            msg = next(parser)
            if msg is not None:
                return msg
            buf.feed(conn.recv(4096))

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.conns.append(conn)
        conn.sendall(pypureomapi.OmapiStartupMessage().as_string())
        conn.recv(8)  # the client's startup message
        auth = self._read_message(conn)
        reply = pypureomapi.OmapiMessage(opcode=pypureomapi.OMAPI_OP_UPDATE, handle=7,
                                         rid=auth.tid, tid=1)
        conn.sendall(reply.as_string())
        request = self._read_message(conn)
        bad = pypureomapi.OmapiMessage(authid=7, opcode=pypureomapi.OMAPI_OP_UPDATE, handle=9,
                                       rid=request.tid, tid=2, obj=[(b"local-state",
                                                                     struct.pack("!I", 2))],
                                       signature=b"\0" * 16)
        conn.sendall(bad.as_string())

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def test_an_answer_with_a_bad_signature_is_a_protocol_error():
    server = FakeOmapiServer()
    try:
        peer = OmapiPeer("127.0.0.1", server.port, OmapiKey("k", SECRET), timeout=1)
        with pytest.raises(ProtocolError, match="signature"):
            peer.open("failover-state", [("name", b"x")])
    finally:
        server.close()
