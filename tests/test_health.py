"""omapifo.health: the rules that turn both views into ok / warning / critical."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from omapifo import Endpoint, FailoverState as S, FailoverStatus, Level, PeerView, Role
from omapifo.health import assess

from .recorded import failover_state

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def view(role: Role, local: S | None, partner: S | None = None, age: float = 10) -> PeerView:
    ep = Endpoint("198.18.10.253" if role is Role.PRIMARY else "198.18.60.253")
    if local is None:
        return PeerView(role, ep, None, "connection refused", "PeerUnreachable")
    stos = int((NOW - timedelta(seconds=age)).timestamp())
    attrs = failover_state(local, partner if partner is not None else local, stos=stos)
    return PeerView(role, ep, FailoverStatus.from_omapi("p", attrs))


def health(p_local, p_partner, s_local, s_partner, age=10, limit=300):
    return assess(view(Role.PRIMARY, p_local, p_partner, age),
                  view(Role.SECONDARY, s_local, s_partner, age), NOW, limit)


def test_both_normal_is_ok():
    h = health(S.NORMAL, S.NORMAL, S.NORMAL, S.NORMAL)
    assert h.level is Level.OK and h.ok


@pytest.mark.parametrize("state", [S.STARTUP, S.RECOVER, S.RECOVER_WAIT, S.RECOVER_DONE])
def test_transitional_states_warn(state):
    h = health(state, S.NORMAL, S.NORMAL, state)
    assert h.level is Level.WARNING
    assert any(str(state) in r for r in h.reasons)


def test_recover_wait_says_when_it_may_move_on():
    h = health(S.RECOVER_WAIT, S.PARTNER_DOWN, S.PARTNER_DOWN, S.RECOVER_WAIT, age=10)
    expected = (NOW - timedelta(seconds=10) + timedelta(seconds=60)).strftime("%H:%M:%S")
    assert any(expected in r for r in h.reasons)


def test_short_communications_interrupted_warns_long_is_critical():
    short = health(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL, S.COMMUNICATIONS_INTERRUPTED,
                   S.NORMAL, age=30, limit=300)
    assert short.level is Level.WARNING
    long = health(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL, S.COMMUNICATIONS_INTERRUPTED,
                  S.NORMAL, age=600, limit=300)
    assert long.level is Level.CRITICAL
    assert any("10 min" in r for r in long.reasons)


def test_views_that_disagree_warn():
    h = health(S.NORMAL, S.NORMAL, S.NORMAL, S.NORMAL)
    assert h.ok
    h = health(S.NORMAL, S.NORMAL, S.PAUSED, S.NORMAL)
    assert h.level is Level.WARNING and any("disagree" in r for r in h.reasons)


def test_unreachable_peer_is_critical_and_says_what_to_do():
    h = health(None, None, S.COMMUNICATIONS_INTERRUPTED, S.NORMAL)
    assert h.level is Level.CRITICAL
    assert any("does not answer over OMAPI" in r and "connection refused" in r
               for r in h.reasons)


def test_both_partner_down_is_split_brain():
    ci = S.COMMUNICATIONS_INTERRUPTED
    h = health(S.PARTNER_DOWN, ci, S.PARTNER_DOWN, ci)
    assert h.level is Level.CRITICAL and any("split brain" in r for r in h.reasons)


@pytest.mark.parametrize("state", [S.POTENTIAL_CONFLICT, S.CONFLICT_DONE,
                                   S.RESOLUTION_INTERRUPTED])
def test_conflict_states_are_critical(state):
    h = health(state, state, state, state)
    assert h.level is Level.CRITICAL and any(str(state) in r for r in h.reasons)
