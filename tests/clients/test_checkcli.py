"""`omapifo check`'s rating of a pair's state (the four exit codes against the real pair are
in test_cli.py); here, states the lab cannot safely be put in.

The check rates nothing itself: it calls omapifo.health.assess with -w/-c, so with the
service's thresholds (-w 0 -c 300) it says what the pair's health says.
"""
from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest

from omapifo import FailoverState as S, FailoverStatus, Level, PairState, PeerView, Role
from omapifo.api.schemas import PairStateSchema
from omapifo.clients.checkcli import evaluate
from omapifo.clients.exitcodes import check_status
from omapifo.health import assess, format_duration

from ..recorded import failover_state
from .samples import NOW, P, PRIMARY, SECONDARY

CI, PD, NORMAL = S.COMMUNICATIONS_INTERRUPTED, S.PARTNER_DOWN, S.NORMAL


def peer(role: Role, states: tuple[S, S] | None, age: float | None) -> PeerView:
    ep = PRIMARY if role is Role.PRIMARY else SECONDARY
    if states is None:
        return PeerView(role, ep, None, f"{role}, read failover state: no answer within 3 s",
                        "PeerTimeout")
    stos = 0 if age is None else int((NOW - timedelta(seconds=age)).timestamp())
    return PeerView(role, ep, FailoverStatus.from_omapi(P, failover_state(
        *states, stos=stos, hierarchy=0 if role is Role.PRIMARY else 1)))


def state(primary: tuple[S, S] | None, secondary: tuple[S, S] | None,
          age: float | None = 10) -> PairState:
    """A pair's state as `omapifo check` gets it: the service's JSON, decoded again."""
    views = peer(Role.PRIMARY, primary, age), peer(Role.SECONDARY, secondary, age)
    schema = PairStateSchema()
    return schema.load(schema.dump(PairState(P, *views, NOW, assess(*views, NOW))))


def test_both_partner_down_is_critical_not_two_warnings():
    level, text, _ = evaluate(state((PD, PD), (PD, PD)), 60, 300)
    assert level is Level.CRITICAL and "split brain" in text


def test_one_partner_down_is_a_warning():
    level, text, _ = evaluate(state((PD, CI), (CI, PD)), 60, 300)
    assert level is Level.WARNING and "primary partner-down" in text


@pytest.mark.parametrize("age, expected", [(30, Level.OK), (60, Level.WARNING),
                                           (299, Level.WARNING), (300, Level.CRITICAL)])
def test_communications_interrupted_is_rated_by_w_and_c(age, expected):
    level, text, perf = evaluate(state((CI, NORMAL), (CI, NORMAL), age=age), 60, 300)
    assert level is expected
    assert f"primary communications-interrupted for {format_duration(age)}" in text
    assert f"secondary_comms_interrupted_seconds={age}s;60;300;0" in perf


@pytest.mark.parametrize("partner, age, expected", [
    ((CI, NORMAL), 10, Level.OK), ((CI, NORMAL), 100, Level.WARNING),
    ((CI, NORMAL), 400, Level.CRITICAL), ((PD, CI), 10, Level.WARNING),
    ((NORMAL, NORMAL), 10, Level.CRITICAL)])
def test_an_unreachable_peer_is_rated_by_its_partners_clock_once_it_noticed(partner, age,
                                                                            expected):
    level, text, perf = evaluate(state(None, partner, age=age), 60, 300)
    assert level is expected and text.startswith(f"{P}: primary unreachable")
    assert perf.startswith("primary_state=0 secondary_state=")


def test_neither_peer_answering_is_critical():
    level, text, perf = evaluate(state(None, None), 60, 300)
    assert level is Level.CRITICAL and text == f"{P}: primary unreachable, secondary unreachable"
    assert perf == "primary_state=0 secondary_state=0"


def test_an_unknown_time_in_communications_interrupted_is_critical_as_in_the_service():
    st = state((CI, NORMAL), (NORMAL, NORMAL), age=None)
    level, text, perf = evaluate(st, 60, 300)
    assert level is Level.CRITICAL and st.health.level is Level.CRITICAL
    assert "communications-interrupted for an unknown time" in text
    assert "primary_comms_interrupted_seconds=U;60;300;0" in perf


def test_both_normal_is_ok_with_todays_perfdata():
    level, text, perf = evaluate(state((NORMAL, NORMAL), (NORMAL, NORMAL)), 60, 300)
    assert (level, check_status(level)) == (Level.OK, 0)
    assert text == f"{P}: both peers normal" and perf == "primary_state=2 secondary_state=2"


STATES = list(S)


@pytest.mark.parametrize("p_local", STATES, ids=str)
def test_with_the_services_thresholds_the_check_says_what_health_says(p_local):
    """Every pair of states (and a peer that does not answer, and a long interruption):
    the check's level is the pair's health level; one rating, not two."""
    for s_local, p_partner, age in product(STATES + [None], (NORMAL, CI, PD), (10, 900)):
        st = state((p_local, p_partner), (s_local, p_local) if s_local else None, age=age)
        if st.secondary.reachable or p_local not in (CI, PD):
            # (the one documented difference: a peer that does not answer while its
            # partner noticed is rated by the partner; tested above)
            assert evaluate(st, 0, 300)[0] is st.health.level, (p_local, s_local, age)
