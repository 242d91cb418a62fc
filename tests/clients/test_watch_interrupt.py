"""`status --watch` ends on Ctrl-C with exit 0, also when a second SIGINT lands while it
closes (timeout(1) signals the command and then its process group)."""
from __future__ import annotations

import argparse
import signal

import pytest

from omapifo.clients import paircli
from omapifo.clients.exitcodes import EXIT_OK


class _Backend:
    def __init__(self) -> None:
        self.closed = 0

    def pair(self, name: str):
        raise KeyboardInterrupt  # the first Ctrl-C, during a read

    def close(self) -> None:
        self.closed += 1
        raise KeyboardInterrupt  # the second, while closing


def test_a_second_interrupt_while_closing_still_ends_the_watch_with_0(monkeypatch):
    backend = _Backend()
    monkeypatch.setattr(paircli, "_backend", lambda args: backend)
    before = signal.getsignal(signal.SIGINT)
    try:
        args = argparse.Namespace(pair="classroom-1-6", watch=1.0)
        try:
            code = paircli.watch_status(args)
        except KeyboardInterrupt:  # escaping, it would end the whole test run
            pytest.fail("the second interrupt escaped watch_status (the command exits 130)")
        assert code == EXIT_OK
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # no third one either
    finally:
        signal.signal(signal.SIGINT, before)
    assert backend.closed == 1
