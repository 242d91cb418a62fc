"""Health of a failover pair, derived from both peers' views: the one place that rates
dhcpd's failover states.

:func:`assess` rates a pair (the library, the REST service, ``omapifo status``, ``omapifo
check`` with its own thresholds, ``omapifo doctor``); :func:`state_level` is the level of
one state by itself, for outputs that colour a state's name. Each reason is a sentence a
network admin understands, with what to do next. The state meanings follow dhcpd.conf(5),
"THE FAILOVER PROTOCOL", and the failover draft (draft-ietf-dhc-failover-12) that dhcpd
4.x implements.
"""
from __future__ import annotations

from datetime import datetime

from ._pairstate import PeerView, split_brain
from ._severity import PEER_CRITICAL_AFTER, Health, Level, Note
from ._states import FailoverState as S

#: seconds of communications-interrupted before critical (the service's
#: ``comms_interrupted_warning`` setting): the dead-peer policy's one number
DEFAULT_COMMS_INTERRUPTED_LIMIT = PEER_CRITICAL_AFTER

# What each state means, by itself: its level and the sentence ({who} is the peer). Every
# FailoverState is here once (tests/test_health.py checks it). Communications-interrupted
# is rated by its clock too (comms_interrupted_level); recover-wait adds when it may end.
_STATES: dict[S, tuple[Level, str]] = {
    S.NORMAL: (Level.OK, "{who} is normal."),
    S.STARTUP: (Level.WARNING,
                "{who} is in startup: it has just started and is contacting its partner; "
                "it should move on within a few seconds. If it stays, check that the partner "
                "runs and that the failover ports are reachable between the two."),
    S.RECOVER: (Level.WARNING,
                "{who} is in recover: it lost its lease database or was out of touch while "
                "its partner was partner-down, and is now resynchronising from the partner. "
                "Wait; it will not serve addresses until this finishes."),
    S.RECOVER_DONE: (Level.WARNING,
                     "{who} is in recover-done: resynchronisation finished; it moves to normal "
                     "once its partner acknowledges."),
    S.RECOVER_WAIT: (Level.WARNING,
                     "{who} is in recover-wait: it waits one MCLT before serving again.{when} "
                     "If it stays longer, look for a fault."),
    S.PAUSED: (Level.WARNING, "{who} is paused (planned restart): its partner serves alone "
                              "meanwhile."),
    S.SHUTDOWN: (Level.WARNING, "{who} is shutting down (planned): its partner takes over."),
    S.PARTNER_DOWN: (Level.WARNING,
                     "{who} is in partner-down: it serves all addresses alone. Restart its "
                     "partner; they resynchronise through recover."),
    S.COMMUNICATIONS_INTERRUPTED: (
        Level.WARNING,
        "{who} has been in communications-interrupted {age}: it cannot reach its partner and "
        "serves only from its own share of free addresses, with short leases. {step}"),
    S.POTENTIAL_CONFLICT: (Level.CRITICAL,
                           "{who} is in potential-conflict: both servers may have handed out "
                           "the same addresses while they could not talk. dhcpd resolves this "
                           "itself once they talk again; until then, neither serves new "
                           "clients. Make sure the failover link between them works."),
    S.CONFLICT_DONE: (Level.CRITICAL,
                      "{who} is in conflict-done: the primary resolved a conflict and waits "
                      "for the secondary to finish; if this lasts, check the secondary's log."),
    S.RESOLUTION_INTERRUPTED: (Level.CRITICAL,
                               "{who} is in resolution-interrupted: it lost contact with its "
                               "partner while resolving a conflict. Restore the link between "
                               "them; do not declare partner-down unless the partner is "
                               "really down."),
    S.UNKNOWN_STATE: (Level.CRITICAL, "{who} reports a failover state omapifo does not know."),
}

#: what assess makes of a peer it cannot read (see rate_unreachable_by_partner)
UNREACHABLE_LEVEL = Level.CRITICAL

# A peer in these states has lost contact with its partner: the partner state it reports
# is the last one it heard (measured: both sides of a cut link report their partner as
# normal), so it is no evidence that the two views disagree.
_OUT_OF_TOUCH = frozenset({S.COMMUNICATIONS_INTERRUPTED, S.RESOLUTION_INTERRUPTED})

# The partner has noticed that a peer is gone: it acts on it, and its clock is the one
# an admin acts against.
_NOTICED = frozenset({S.COMMUNICATIONS_INTERRUPTED, S.PARTNER_DOWN})


# A partner in these states is on its way back to normal from partner-down.
_COMING_BACK = frozenset({S.STARTUP, S.RECOVER, S.RECOVER_WAIT, S.RECOVER_DONE})


def state_level(state: S | None) -> Level:
    """The level of a peer's state by itself; None is a peer that cannot be read.

    Communications-interrupted is WARNING here, what :func:`assess` gives it with the
    default thresholds until it lasts too long; assess also weighs its clock
    (:func:`comms_interrupted_level`) and what the two peers say together (split brain,
    views that disagree)."""
    return UNREACHABLE_LEVEL if state is None else _STATES[state][0]


def comms_interrupted_level(seconds: float | None, warning: float = 0.0,
                            critical: float = DEFAULT_COMMS_INTERRUPTED_LIMIT) -> Level:
    """Communications-interrupted for ``seconds``: CRITICAL above ``critical``, WARNING
    above ``warning``, OK before. An unknown time (dhcpd gave no state-change time) is
    CRITICAL: nothing shows that it is short.

    *Above*, not from: ``omapifo check -c 300`` (a monitoring-plugins range alerts outside
    0:300) and the alerting rules (``omapifo_peer_state_seconds >
    omapifo_peer_critical_after_seconds``) say critical after 300 s, so this must too, or
    the status page and the pager disagree for the second in between."""
    if seconds is None or seconds > critical:
        return Level.CRITICAL
    return Level.WARNING if seconds > warning else Level.OK


def format_duration(seconds: float | None) -> str:
    """``"42 s"``, ``"10 min"``, ``"3 h"``, ``"4 d"``; None is ``"an unknown time"``.

    The one way omapifo writes how long something lasted (health reasons, doctor,
    ``omapifo check``, the command line's "ago")."""
    if seconds is None:
        return "an unknown time"
    seconds = max(0.0, seconds)  # a state change "in the future": the clocks differ a little
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h" if seconds < 172800 else f"{int(seconds // 86400)} d"


def _age(since: datetime | None, now: datetime) -> float | None:
    return (now - since).total_seconds() if since else None


def _unreachable(view: PeerView, other: PeerView, noticed_counts: bool) -> Note:
    who = f"The {view.role} ({view.endpoint})"
    first = f"{who} does not answer over OMAPI ({view.error})."
    noticed = other.local_state if other.local_state in _NOTICED else None
    level = UNREACHABLE_LEVEL if noticed is None or noticed_counts else Level.OK
    if noticed is S.COMMUNICATIONS_INTERRUPTED:
        return Note(level, view.role, f"{view.role} unreachable",
                    f"{first} The {other.role} is in communications-interrupted: if the "
                    f"{view.role} is really down (not only cut off), declare partner-down on "
                    f"the {other.role}; if it runs, repair the link and do not.",
                    partner_down=other.role)
    if noticed is S.PARTNER_DOWN:
        return Note(level, view.role, f"{view.role} unreachable",
                    f"{first} The {other.role} serves alone (partner-down): repair and start "
                    f"the {view.role}; it resynchronises through recover.")
    return Note(level, view.role, f"{view.role} unreachable",
                f"{first} Check that dhcpd runs there and that OMAPI is reachable; if the "
                "server is really down, its partner should be in communications-interrupted "
                "and may be moved to partner-down.")


def _peer(view: PeerView, other: PeerView, now: datetime, warning: float,
          critical: float) -> Note | None:
    """What a readable peer's own state says, or None when it is normal."""
    assert view.status is not None
    state = view.status.local_state
    level, text = _STATES[state]
    if level is Level.OK:
        return None
    who = f"The {view.role} ({view.endpoint})"
    summary = f"{view.role} {state}"
    if state is S.RECOVER_WAIT:
        until = view.recover_wait_until
        when = f" It may move on at {until:%H:%M:%S} UTC (state change + mclt)." if until \
            else ""
        return Note(level, view.role, summary, text.format(who=who, when=when))
    if state is S.PARTNER_DOWN and other.local_state in _COMING_BACK:
        return Note(level, view.role, summary,
                    f"{who} is in partner-down: it serves all addresses alone while its "
                    f"partner comes back (it is in {other.local_state}). Wait until both are "
                    "normal.")
    if state is S.COMMUNICATIONS_INTERRUPTED:
        age = _age(view.status.since, now)
        if other.reachable:
            # it answers here, so it runs: only the link between the two is broken
            step = ("Its partner answers here, so it runs and only the failover link is "
                    "broken: repair the link (ports, routing; dhcpd also refuses a partner "
                    "whose clock differs by more than 60 s). Do not declare partner-down.")
        else:
            step = ("Find out whether the partner is down (then partner-down on this server) "
                    "or only cut off (then repair the link; do not declare partner-down).")
        return Note(comms_interrupted_level(age, warning, critical), view.role,
                    f"{summary} for {format_duration(age)}",
                    text.format(who=who, age=f"for {format_duration(age)}", step=step))
    return Note(level, view.role, summary, text.format(who=who))


def assess(primary: PeerView, secondary: PeerView, now: datetime,
           comms_interrupted_critical: float = DEFAULT_COMMS_INTERRUPTED_LIMIT, *,
           comms_interrupted_warning: float = 0.0,
           rate_unreachable_by_partner: bool = False) -> Health:
    """The pair's health from both views; the worst note wins, every note is a reason.

    Communications-interrupted is WARNING after ``comms_interrupted_warning`` seconds and
    CRITICAL after ``comms_interrupted_critical`` (and when its time is unknown); until the
    warning threshold it is a note at OK. A peer that cannot be read is CRITICAL, unless
    ``rate_unreachable_by_partner`` and its partner has already noticed
    (communications-interrupted or partner-down): then it is a note at OK and the partner's
    state and clock rate the pair (``omapifo check``: a dead server shows as its partner's
    communications-interrupted, the clock an admin acts against). Both peers in
    partner-down (a split brain) is CRITICAL; views that disagree are a WARNING.
    """
    notes: list[Note] = []
    views = (primary, secondary)
    for view, other in ((primary, secondary), (secondary, primary)):
        if view.status is None:
            notes.append(_unreachable(view, other, not rate_unreachable_by_partner))
            continue
        note = _peer(view, other, now, comms_interrupted_warning, comms_interrupted_critical)
        if note is not None:
            notes.append(note)
    if split_brain(primary, secondary):
        notes.append(Note(Level.CRITICAL, None, "both partner-down (split brain): stop one "
                          "server now", "Both servers are in partner-down: each believes the "
                          "other is dead and both hand out every address (split brain). Stop "
                          "one server at once, then restart it so it recovers from the other."))
    if all(v.status is not None for v in views):
        for me, other in ((primary, secondary), (secondary, primary)):
            assert me.status is not None and other.status is not None
            if me.status.local_state in _OUT_OF_TOUCH:
                continue
            if me.status.partner_state != other.status.local_state:
                notes.append(Note(
                    Level.WARNING, me.role, f"{me.role} sees {other.role} as "
                    f"{me.status.partner_state}",
                    f"The views disagree: the {me.role} believes the {other.role} is "
                    f"{me.status.partner_state}, but the {other.role} reports "
                    f"{other.status.local_state}. Brief during a transition; if it lasts, "
                    "check the link between them."))
    if not notes:
        notes.append(Note(Level.OK, None, "both peers normal", "Both servers are normal."))
    return Health(max(n.level for n in notes), tuple(n.reason for n in notes), tuple(notes))
