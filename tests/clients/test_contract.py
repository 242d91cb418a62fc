"""The pair contract as the command line uses it: an implementation that does not do an
operation says so before anybody is asked to confirm, and nothing is called."""
from __future__ import annotations

import pytest

from omapifo import Operation, Unsupported, require
from omapifo.clients import cli, paircli
from omapifo.clients.remote import RemotePair
from omapifo._contract import EVERY_OPERATION
from omapifo._failover import FailoverPair


class ReadOnlyPair:
    """A third implementation: it reads the state and nothing else."""

    name = "p"
    supports = frozenset({Operation.STATE})

    def __init__(self) -> None:
        self.called: list[str] = []

    def partner_down(self, *args: object, **kw: object) -> None:
        self.called.append("partner-down")
        raise AssertionError("an unsupported operation was called")


class Backend:
    def __init__(self, pair: ReadOnlyPair) -> None:
        self._pair, self.closed = pair, False

    def pair(self, name: str, *, leases: object = None) -> ReadOnlyPair:
        return self._pair

    def close(self) -> None:
        self.closed = True


def test_an_unsupported_operation_is_refused_before_the_confirmation(monkeypatch, capsys):
    pair = ReadOnlyPair()
    backend = Backend(pair)
    monkeypatch.setattr(paircli, "_backend", lambda args: backend)
    code = cli.main(["partner-down", "p", "secondary"])  # no --yes, stdin not a terminal
    err = capsys.readouterr().err
    assert code == 2 and "does not do partner-down; it does: state" in err, err
    assert "confirmation" not in err and pair.called == [] and backend.closed


def test_both_implementations_do_every_operation():
    assert FailoverPair.supports == RemotePair.supports == EVERY_OPERATION == set(Operation)
    with pytest.raises(Unsupported, match="ReadOnlyPair"):
        require(ReadOnlyPair(), Operation.RELEASE)  # type: ignore[arg-type]


class NoRequests:
    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"a request was made: {name}")


@pytest.mark.parametrize("kw", [{}, {"name": "h", "mac": "02:00:00:00:00:01"}])
def test_a_remote_host_is_named_one_way_before_any_request(kw):
    """Neither or both of name and MAC: ValueError, as FailoverPair.delete_host."""
    with pytest.raises(ValueError, match="exactly one of"):
        RemotePair(NoRequests(), "p").delete_host(**kw)  # type: ignore[arg-type]
