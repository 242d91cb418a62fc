"""doctor's next step comes from the same rating as health (omapifo._health.assess) and the
configuration findings' levels: the worst thing found, live first among equals. The lab
runs (a server stops) are in test_confcheck.py."""
from __future__ import annotations

from omapifo import FailoverState as S, Level, PairState, Role
from omapifo._confcheck import Finding
from omapifo._doctor import DoctorReport, next_step
from omapifo._health import assess

from .test_health import NOW, view

PAIR = "classroom-1-6"
CI, PD, NORMAL = S.COMMUNICATIONS_INTERRUPTED, S.PARTNER_DOWN, S.NORMAL


def step(p_local, p_partner, s_local, s_partner, *, age=10, findings=()) -> str:
    views = (view(Role.PRIMARY, p_local, p_partner, age),
             view(Role.SECONDARY, s_local, s_partner, age))
    rep = DoctorReport(PAIR, findings=list(findings),
                       state=PairState(PAIR, *views, NOW, assess(*views, NOW)))
    return next_step(PAIR, rep, None)


def finding(level: Level) -> Finding:
    return Finding("FO002", level, "addresses do not mirror", "mirror them", "dhcpd.conf", 7)


def test_healthy_and_consistent_is_nothing_to_do():
    assert step(NORMAL, NORMAL, NORMAL, NORMAL).startswith("Nothing to do")
    assert step(NORMAL, NORMAL, NORMAL, NORMAL,
                findings=[finding(Level.INFO)]).startswith("Nothing to do")


def test_a_dead_partner_noticed_gives_the_partner_down_command():
    text = step(None, None, CI, NORMAL)
    assert "does not answer" in text and "really down" in text
    assert text.endswith(f"omapifo partner-down {PAIR} secondary")


def test_a_partner_down_peer_alone_says_to_start_the_other():
    text = step(PD, CI, None, None)
    assert "serves alone" in text and "repair and start the secondary" in text
    assert "omapifo partner-down" not in text


def test_a_cut_link_says_repair_it_not_partner_down():
    text = step(CI, NORMAL, CI, NORMAL)
    assert "only the failover link is broken" in text and "Do not declare partner-down" in text


def test_recover_wait_says_when():
    text = step(S.RECOVER_WAIT, PD, PD, S.RECOVER_WAIT)
    assert "recover-wait" in text and "UTC" in text


def test_a_partner_down_peer_beside_a_recovering_partner_says_wait():
    text = step(PD, S.RECOVER_WAIT, S.RECOVER_WAIT, PD)
    assert "comes back" in text and "Restart" not in text


def test_the_worst_wins_live_first_among_equals():
    critical = finding(Level.CRITICAL)
    # a critical configuration finding beats a live warning
    assert step(S.STARTUP, NORMAL, NORMAL, S.STARTUP, findings=[critical]).startswith(
        "Fix the configuration first: dhcpd.conf:7: critical FO002")
    # a live critical condition comes before a critical finding
    assert step(S.POTENTIAL_CONFLICT, S.POTENTIAL_CONFLICT, S.POTENTIAL_CONFLICT,
                S.POTENTIAL_CONFLICT, findings=[critical]).startswith(
        "The primary (198.18.10.253:7911) is in potential-conflict")
    # a configuration warning is a step when the live pair is fine
    assert step(NORMAL, NORMAL, NORMAL, NORMAL, findings=[finding(Level.WARNING)]).startswith(
        "Fix the configuration first")


def test_split_brain_is_the_step():
    assert "split brain" in step(PD, PD, PD, PD)
