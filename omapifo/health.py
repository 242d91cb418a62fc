"""Health of a failover pair, derived from both peers' views.

Each reason is a sentence a network admin understands, with what to do next. The
state meanings follow dhcpd.conf(5), "THE FAILOVER PROTOCOL", and the failover
draft (draft-ietf-dhc-failover-12) that dhcpd 4.x implements.
"""
from __future__ import annotations

from datetime import datetime

from .pairstate import PeerView
from .severity import Health, Level
from .states import FailoverState as S

DEFAULT_COMMS_INTERRUPTED_LIMIT = 300.0  # seconds of communications-interrupted before critical


_WARNING_STATES = {
    S.STARTUP: "{who} is in startup: it has just started and is contacting its partner; "
               "it should move on within a few seconds. If it stays, check that the partner "
               "runs and that the failover ports are reachable between the two.",
    S.RECOVER: "{who} is in recover: it lost its lease database or was out of touch while "
               "its partner was partner-down, and is now resynchronising from the partner. "
               "Wait; it will not serve addresses until this finishes.",
    S.RECOVER_DONE: "{who} is in recover-done: resynchronisation finished; it moves to normal "
                    "once its partner acknowledges.",
    S.PAUSED: "{who} is paused (planned restart): its partner serves alone meanwhile.",
    S.SHUTDOWN: "{who} is shutting down (planned): its partner takes over.",
}

_CRITICAL_STATES = {
    S.POTENTIAL_CONFLICT: "{who} is in potential-conflict: both servers may have handed out "
                          "the same addresses while they could not talk. dhcpd resolves this "
                          "itself once they talk again; until then, neither serves new clients. "
                          "Make sure the failover link between them works.",
    S.CONFLICT_DONE: "{who} is in conflict-done: the primary resolved a conflict and waits for "
                     "the secondary to finish; if this lasts, check the secondary's log.",
    S.RESOLUTION_INTERRUPTED: "{who} is in resolution-interrupted: it lost contact with its "
                              "partner while resolving a conflict. Restore the link between "
                              "them; do not declare partner-down unless the partner is "
                              "really down.",
    S.UNKNOWN_STATE: "{who} reports a failover state omapifo does not know.",
}


# What assess() makes of a peer's own state by itself, for callers that rate states with
# other thresholds (the Nagios check): communications-interrupted depends on how long.
WARNING_STATES = frozenset(_WARNING_STATES) | {S.RECOVER_WAIT, S.PARTNER_DOWN}
CRITICAL_STATES = frozenset(_CRITICAL_STATES)


def _age(since: datetime | None, now: datetime) -> float | None:
    return (now - since).total_seconds() if since else None


def fmt_age(seconds: float | None) -> str:
    """``"for 42 s"``, ``"for 10 min"``, ``"for 3 h"``: how long a peer has been in a state."""
    if seconds is None:
        return "for an unknown time"
    if seconds < 120:
        return f"for {int(seconds)} s"
    return f"for {int(seconds // 60)} min" if seconds < 7200 else f"for {int(seconds // 3600)} h"


def assess(primary: PeerView, secondary: PeerView, now: datetime,
           comms_interrupted_limit: float = DEFAULT_COMMS_INTERRUPTED_LIMIT) -> Health:
    """The pair's health from both views; the worst finding wins, every finding is a reason."""
    findings: list[tuple[Level, str]] = []
    views = (primary, secondary)
    for view in views:
        who = f"The {view.role} ({view.endpoint})"
        if not view.reachable or view.status is None:
            findings.append((Level.CRITICAL, f"{who} does not answer over OMAPI ({view.error}). "
                             "Check that dhcpd runs there and that OMAPI is reachable; if the "
                             "server is really down, its partner should be in "
                             "communications-interrupted and may be moved to partner-down."))
            continue
        state = view.status.local_state
        if state in _WARNING_STATES:
            findings.append((Level.WARNING, _WARNING_STATES[state].format(who=who)))
        elif state in _CRITICAL_STATES:
            findings.append((Level.CRITICAL, _CRITICAL_STATES[state].format(who=who)))
        elif state is S.RECOVER_WAIT:
            until = view.recover_wait_until
            when = f" It may move on at {until:%H:%M:%S} UTC (state change + mclt)." if until \
                else ""
            findings.append((Level.WARNING, f"{who} is in recover-wait: it waits one MCLT "
                             f"before serving again.{when} If it stays longer, look for a fault."))
        elif state is S.COMMUNICATIONS_INTERRUPTED:
            age = _age(view.status.since, now)
            long = age is None or age >= comms_interrupted_limit
            findings.append((Level.CRITICAL if long else Level.WARNING,
                             f"{who} has been in communications-interrupted {fmt_age(age)}: it "
                             "cannot reach its partner and serves only from its own share of "
                             "free addresses, with short leases. Find out whether the partner is "
                             "down (then partner-down on this server) or only cut off "
                             "(then repair the link; do not declare partner-down)."))
        elif state is S.PARTNER_DOWN:
            findings.append((Level.WARNING, f"{who} is in partner-down: it serves all "
                             "addresses alone. Restart its partner; they resynchronise through "
                             "recover."))
    if all(v.reachable and v.status for v in views):
        p, s = primary.status, secondary.status
        assert p is not None and s is not None
        if p.local_state is S.PARTNER_DOWN and s.local_state is S.PARTNER_DOWN:
            findings.append((Level.CRITICAL, "Both servers are in partner-down: each believes "
                             "the other is dead and both hand out every address (split brain). "
                             "Stop one server at once, then restart it so it recovers from the "
                             "other."))
        for me, other in ((primary, secondary), (secondary, primary)):
            assert me.status is not None and other.status is not None
            if me.status.partner_state != other.status.local_state:
                findings.append((Level.WARNING, f"The views disagree: the {me.role} believes the "
                                 f"{other.role} is {me.status.partner_state}, but the "
                                 f"{other.role} reports {other.status.local_state}. Brief "
                                 "during a transition; if it lasts, check the link between "
                                 "them."))
    if not findings:
        return Health(Level.OK, ("Both servers are normal.",))
    return Health(max(level for level, _ in findings), tuple(text for _, text in findings))
