"""omapifo._health: the rules that turn both views into ok / warning / critical."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from omapifo import Endpoint, FailoverState as S, Health, Level, PeerView, Role
from omapifo import _wire as wire
from omapifo._health import assess, comms_interrupted_level, format_duration, state_level

from .recorded import failover_state

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def view(role: Role, local: S | None, partner: S | None = None, age: float = 10) -> PeerView:
    ep = Endpoint("198.18.10.253" if role is Role.PRIMARY else "198.18.60.253")
    if local is None:
        return PeerView(role, ep, None, "connection refused", "PeerUnreachable")
    stos = int((NOW - timedelta(seconds=age)).timestamp())
    attrs = failover_state(local, partner if partner is not None else local, stos=stos)
    return PeerView(role, ep, wire.failover_status("p", attrs))


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


# -- one rating per state ---------------------------------------------------------------------


@pytest.mark.parametrize("state", list(S), ids=str)
def test_every_state_has_one_rating_and_assess_gives_it(state):
    """A peer in ``state`` beside a normal partner that agrees: the pair's level is the
    state's own level (communications-interrupted: while it is short)."""
    assert state_level(state) in (Level.OK, Level.WARNING, Level.CRITICAL)
    h = health(state, S.NORMAL, S.NORMAL, state, age=10)
    assert h.level is state_level(state), [str(n.level) for n in h.notes]
    assert [n.level for n in h.notes if n.role is Role.PRIMARY] == (
        [] if state is S.NORMAL else [state_level(state)])


def test_the_levels_of_the_states():
    by_level = {level: {str(s) for s in S if state_level(s) is level} for level in Level}
    assert by_level == {
        Level.OK: {"normal"}, Level.INFO: set(),
        Level.WARNING: {"startup", "communications-interrupted", "partner-down", "recover",
                        "paused", "shutdown", "recover-done", "recover-wait"},
        Level.CRITICAL: {"unknown-state", "potential-conflict", "resolution-interrupted",
                         "conflict-done"}}
    assert state_level(None) is Level.CRITICAL  # a peer that cannot be read


def test_one_partner_down_is_a_warning_and_says_to_restart_the_partner():
    h = health(S.PARTNER_DOWN, S.COMMUNICATIONS_INTERRUPTED, S.COMMUNICATIONS_INTERRUPTED,
               S.PARTNER_DOWN)
    assert h.level is Level.WARNING
    assert any("partner-down" in r and "Restart its partner" in r for r in h.reasons)


def test_split_brain_seen_from_one_side_is_critical():
    """The secondary does not answer, but the primary reports it in partner-down too."""
    h = health(S.PARTNER_DOWN, S.PARTNER_DOWN, None, None)
    assert h.level is Level.CRITICAL and any("split brain" in r for r in h.reasons)
    check = assess(view(Role.PRIMARY, S.PARTNER_DOWN, S.PARTNER_DOWN),
                   view(Role.SECONDARY, None), NOW, 300, rate_unreachable_by_partner=True)
    assert check.level is Level.CRITICAL  # noticed, but a split brain all the same


# -- communications-interrupted: thresholds, unknown time, a cut link ------------------------


def ci_health(age: float | None, **kw) -> Health:
    p = view(Role.PRIMARY, S.COMMUNICATIONS_INTERRUPTED, S.NORMAL, age or 10)
    if age is None:  # dhcpd gave no state-change time (local-stos 0)
        p = PeerView(p.role, p.endpoint, dataclasses.replace(p.status, since=None))
    return assess(p, view(Role.SECONDARY, None), NOW, **kw)


# critical *above* the limit, as `omapifo check -c 300` and the alerting rules (issue 22)
@pytest.mark.parametrize("age, warning, critical, expected", [
    (10, 0, 300, Level.WARNING), (299, 0, 300, Level.WARNING), (300, 0, 300, Level.WARNING),
    (301, 0, 300, Level.CRITICAL), (59, 60, 300, Level.OK), (60, 60, 300, Level.OK),
    (61, 60, 300, Level.WARNING), (900, 60, 600, Level.CRITICAL)])
def test_communications_interrupted_thresholds(age, warning, critical, expected):
    h = ci_health(age, comms_interrupted_critical=critical, comms_interrupted_warning=warning,
                  rate_unreachable_by_partner=True)
    assert h.level is expected
    assert comms_interrupted_level(age, warning, critical) is expected


def test_the_default_thresholds_are_the_services():
    assert ci_health(299, rate_unreachable_by_partner=True).level is Level.WARNING
    assert ci_health(300, rate_unreachable_by_partner=True).level is Level.WARNING
    assert ci_health(301, rate_unreachable_by_partner=True).level is Level.CRITICAL


def test_an_unknown_time_in_communications_interrupted_is_critical():
    h = ci_health(None, comms_interrupted_warning=60, comms_interrupted_critical=3600,
                  rate_unreachable_by_partner=True)
    assert h.level is Level.CRITICAL
    assert any("for an unknown time" in r for r in h.reasons)
    assert comms_interrupted_level(None, 60, 3600) is Level.CRITICAL


def test_a_cut_link_is_not_views_that_disagree():
    """Measured: both sides of a cut link are communications-interrupted and report their
    partner as normal, the last state they heard; that is no disagreement."""
    h = health(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL, S.COMMUNICATIONS_INTERRUPTED, S.NORMAL,
               age=10)
    assert h.level is Level.WARNING and not any("disagree" in r for r in h.reasons)
    assert any("only the failover link is broken" in r for r in h.reasons)
    short = assess(view(Role.PRIMARY, S.COMMUNICATIONS_INTERRUPTED, S.NORMAL, 10),
                   view(Role.SECONDARY, S.COMMUNICATIONS_INTERRUPTED, S.NORMAL, 10), NOW, 300,
                   comms_interrupted_warning=60)
    assert short.level is Level.OK  # under -w: the check stays OK


# -- a peer that does not answer ---------------------------------------------------------------


@pytest.mark.parametrize("partner, by_partner, expected", [
    (S.COMMUNICATIONS_INTERRUPTED, False, Level.CRITICAL),
    (S.COMMUNICATIONS_INTERRUPTED, True, Level.WARNING),  # the partner's clock: 10 s
    (S.PARTNER_DOWN, True, Level.WARNING),
    (S.NORMAL, True, Level.CRITICAL),  # its partner has not noticed: odd
    (None, True, Level.CRITICAL)])
def test_an_unreachable_peer_rated_alone_or_by_its_partner(partner, by_partner, expected):
    p = view(Role.PRIMARY, partner, S.NORMAL) if partner else view(Role.PRIMARY, None)
    h = assess(p, view(Role.SECONDARY, None), NOW, rate_unreachable_by_partner=by_partner)
    assert h.level is expected
    note = next(n for n in h.notes if n.role is Role.SECONDARY)
    assert note.summary == "secondary unreachable"
    assert note.level is (Level.OK if by_partner and partner in (
        S.COMMUNICATIONS_INTERRUPTED, S.PARTNER_DOWN) else Level.CRITICAL)


def test_the_partner_noticed_so_the_next_step_is_partner_down_on_it():
    h = health(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL, None, None)
    note = next(n for n in h.notes if n.role is Role.SECONDARY)
    assert note.partner_down is Role.PRIMARY and "really down" in note.reason


# -- notes, health, durations ------------------------------------------------------------------


def test_notes_are_the_reasons_with_their_levels():
    h = health(S.NORMAL, S.NORMAL, S.PAUSED, S.NORMAL)
    assert tuple(n.reason for n in h.notes) == h.reasons
    assert h.level is max(n.level for n in h.notes)
    assert [n.summary for n in h.notes] == ["secondary paused", "primary sees secondary as "
                                            "normal"]
    assert health(S.NORMAL, S.NORMAL, S.NORMAL, S.NORMAL).notes[0].summary == \
        "both peers normal"


def test_two_healths_that_say_the_same_are_equal_without_their_notes():
    """What the REST service sends back (level and reasons) equals what assess built."""
    h = health(S.STARTUP, S.NORMAL, S.NORMAL, S.STARTUP)
    assert Health(h.level, h.reasons) == h


@pytest.mark.parametrize("seconds, text", [
    (None, "an unknown time"), (-3, "0 s"), (0, "0 s"), (119.9, "119 s"), (120, "2 min"),
    (7199, "119 min"), (7200, "2 h"), (172799, "47 h"), (172800, "2 d")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_levels_order_and_code():
    assert max(Level) is Level.CRITICAL and Level.OK < Level.INFO < Level.WARNING
    assert [level.code for level in Level] == [0, 0, 1, 2]
    assert [str(level) for level in Level] == ["ok", "info", "warning", "critical"]
