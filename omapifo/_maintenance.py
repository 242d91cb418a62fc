"""Planned maintenance of one server of a pair in one step, and following its return.

Kea's HA has ``ha-maintenance-start``; with dhcpd it takes three manual steps. Measured
with dhcpd 4.4.3 in the lab (mclt 15), after a control-object shutdown of the secondary
(dhcpd(8), THE CONTROL OBJECT):

- its OMAPI port refuses connections at once (dhcpd closes its listeners first);
- its partner stays ``normal`` for 8-12 s, until the stopping server gives up waiting for
  it ("timeout waiting for failover peer"), logs "I move from normal to
  communications-interrupted", disables its interfaces and exits 2-5 s later;
- the partner then reads ``communications-interrupted``, never ``partner-down``: it does
  not take the stopped server's addresses until it is moved to partner-down.

:func:`start` runs the whole sequence as steps (check, shutdown, wait, partner-down), each
decided by :mod:`omapifo._guards` on evidence: the partner-down step proceeds only because
the server we shut down refuses the connection (``dhcpd-stopped``); a server that goes
silent instead (no route, timeout) stops the sequence, it is never forced.

Once the admin has started dhcpd again, :func:`follow_recovery` yields each new pair of
states. Measured (mclt 15): the restarted secondary reads ``recover`` after 0.2 s and
``recover-wait`` after 2 s while its partner stays ``partner-down``; both read ``normal``
at the recover-wait end time (state change + MCLT, the state change being its move to
``recover``: dhcpd 4.4.3 keeps that time through recover-wait), 15 s after the start.
``recover-done`` passes within one read. Nothing needs to be sent: dhcpd resynchronises
by itself.

:func:`start` is the body of :meth:`FailoverPair.maintenance
<omapifo.FailoverPair.maintenance>`: it reads through the pair access and sends
through the pair's attempt (one audit record for the whole sequence, the pair's lock held
throughout), so this module sits below :mod:`omapifo._failover`.
"""
from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from . import _guards as guards
from ._attempt import Attempt
from ._audit import Outcome
from ._errors import NOT_TAKEN, ConvergenceError, OperationRefused, PeerError
from ._omapi import local_state_update, shutdown_update
from ._pairaccess import PairAccess
from ._pairstate import PairState, PeerView
from ._probe import probe_partner
from ._states import FailoverState, Role

log = logging.getLogger("omapifo.actions")

DEFAULT_STOP_WAIT = 60.0  # seconds for the shut-down server to stop; measured 8-12 s
# the least wait FailoverPair.maintenance accepts: a shorter one stops half-way every time,
# after the shutdown (the partner reads communications-interrupted 8-12 s later, measured)
MIN_STOP_WAIT = 15.0

DEFAULT_SETTLE = 10.0  # seconds for the partner to read back partner-down
RECOVERY_MARGIN = 300.0  # seconds on top of one MCLT for `follow_recovery` by default
POLL_INTERVAL = 0.5  # seconds between two reads of both peers while waiting

Read = Callable[[], PairState]
OnStep = Callable[["MaintenanceStep"], None]


class StepOutcome(str, enum.Enum):
    """How one step of a maintenance ended."""

    DONE = "done"
    DRY_RUN = "dry-run"  # checked, nothing sent
    NO_OP = "no-op"  # already so (the partner was in partner-down by itself)
    REFUSED = "refused"  # a guard said no: the sequence stops here
    TIMED_OUT = "timed-out"  # what was waited for did not happen in time: it stops here
    FAILED = "failed"  # dhcpd could not be told: it stops here
    UNKNOWN = "unknown"  # sent, but no answer says whether dhcpd took it: it stops here

    def __str__(self) -> str:
        return self.value


def seen(view: PeerView) -> str:
    """A peer as read: its failover state as dhcpd names it, or, when it cannot be read,
    what the failure tells (``dhcpd-stopped``, ``silent``, ``answers-badly``)."""
    return str(view.local_state) if view.reachable else str(view.evidence)


@dataclass(frozen=True)
class Observation:
    """Both peers as read at one moment; ``recover_wait_until`` is when a peer in
    recover-wait may move on (its state change plus the MCLT), else None."""

    at: datetime
    primary: str
    secondary: str
    recover_wait_until: datetime | None = None

    @classmethod
    def of(cls, st: PairState) -> Observation:
        until = st.primary.recover_wait_until or st.secondary.recover_wait_until
        return cls(st.read_at, seen(st.primary), seen(st.secondary), until)

    @property
    def states(self) -> tuple[str, str]:
        return self.primary, self.secondary

    @property
    def normal(self) -> bool:
        return self.states == ("normal", "normal")

    def __str__(self) -> str:
        text = f"primary {self.primary}, secondary {self.secondary}"
        if self.recover_wait_until:
            text += f" (recover-wait until {self.recover_wait_until.isoformat()})"
        return text


@dataclass(frozen=True)
class MaintenanceStep:
    """One step: what, when it began and ended (aware UTC), the states seen meanwhile
    (each change once), how it ended and why."""

    what: str  # "check", "shutdown", "wait", "partner-down"
    at: datetime
    ended: datetime
    outcome: StepOutcome
    message: str
    seen: tuple[Observation, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in (StepOutcome.DONE, StepOutcome.DRY_RUN, StepOutcome.NO_OP)

    def __str__(self) -> str:
        return f"{self.what} {self.outcome}: {self.message}"


@dataclass(frozen=True)
class MaintenanceReport:
    """What :func:`start` did: every step in order. ``completed``: the peer is shut down
    and its partner in partner-down. ``changed``: something was sent to dhcpd (a report
    that is not completed but changed stopped half-way: read ``message``)."""

    pair: str
    role: Role
    dry_run: bool
    completed: bool
    message: str
    steps: tuple[MaintenanceStep, ...]
    reason: str | None = None

    @property
    def at(self) -> datetime:
        return self.steps[0].at

    @property
    def changed(self) -> bool:
        return any(s.what == "shutdown" and s.outcome is StepOutcome.DONE for s in self.steps)

    @property
    def uncertain(self) -> bool:
        """The shutdown was sent but whether dhcpd took it is not known."""
        return any(s.outcome is StepOutcome.UNKNOWN for s in self.steps)

    def summary(self) -> str:
        """One line for the audit record: the message, then each step."""
        return self.message + " | " + "; ".join(
            f"{s.what} {s.outcome} at {s.at.isoformat(timespec='seconds')}"
            + (f" ({' -> '.join('/'.join(o.states) for o in s.seen)})" if s.seen else "")
            for s in self.steps)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Steps:
    """The steps so far, and a report made of them."""

    def __init__(self, pair: str, role: Role, dry_run: bool, reason: str | None,
                 on_step: OnStep | None) -> None:
        self.pair, self.role, self.dry_run, self.reason = pair, role, dry_run, reason
        self.on_step = on_step
        self.steps: list[MaintenanceStep] = []

    def add(self, what: str, at: datetime, outcome: StepOutcome, message: str,
            seen_: list[Observation] | tuple[Observation, ...] = ()) -> MaintenanceStep:
        step = MaintenanceStep(what, at, _now(), outcome, message, tuple(seen_))
        self.steps.append(step)
        if self.on_step is not None:
            # the caller's display (a terminal that went away, a broken pipe) must never
            # stop the sequence half-way: after the shutdown, the partner-down must follow
            try:
                self.on_step(step)
            except Exception:  # noqa: BLE001 - any failure of the display; the steps go on
                log.exception("could not show the %s step of the maintenance of %s; "
                              "going on", what, self.pair)
        return step

    def report(self, completed: bool, message: str) -> MaintenanceReport:
        return MaintenanceReport(self.pair, self.role, self.dry_run, completed, message,
                                 tuple(self.steps), self.reason)


def _watch(read: Read, until: Callable[[PairState], guards.Decision], wait: float,
           interval: float) -> tuple[guards.Decision, PairState, list[Observation]]:
    """Read both peers until ``until`` proceeds or ``wait`` seconds have passed; the last
    decision and read, and every change seen."""
    deadline = time.monotonic() + wait
    changes: list[Observation] = []
    while True:
        st = read()
        obs = Observation.of(st)
        if not changes or changes[-1].states != obs.states:
            changes.append(obs)
        decision = until(st)
        if decision.proceed or time.monotonic() >= deadline:
            return decision, st, changes
        time.sleep(interval)


def check_wait(wait: float) -> None:
    """ValueError for a ``wait`` too short to work (before any record or traffic)."""
    if wait < MIN_STOP_WAIT:
        raise ValueError(f"wait must be at least {MIN_STOP_WAIT:g} s, not {wait:g}: the "
                         "partner notices the stop 8-12 s after the shutdown (measured), "
                         "so a shorter wait stops half-way, the server down and its "
                         "partner not in partner-down")


def start(pair: PairAccess, att: Attempt, role: Role, *, dry_run: bool = False,
          reason: str | None = None, wait: float = DEFAULT_STOP_WAIT,
          settle: float = DEFAULT_SETTLE, interval: float = POLL_INTERVAL,
          on_step: OnStep | None = None) -> MaintenanceReport:
    """Shut ``role`` down, wait until it has stopped, move its partner to partner-down,
    inside ``att``; the record ends ``done``, ``dry-run``, ``partial`` (shut down, then
    stopped by a guard or a timeout), ``unknown`` or ``failed``, its detail every step.

    Raises OperationRefused (nothing sent) unless both peers are normal
    (:func:`guards.maintenance_start`). FailoverPair.maintenance refuses a ``wait`` under
    MIN_STOP_WAIT (:func:`check_wait`; tests of this function on scripted reads use less).
    After the shutdown the sequence never raises for what dhcpd does: it stops at the
    first step that is not done and says why in the report (``completed`` False), so the
    caller learns what was already changed; a failing ``on_step`` is logged, never raised.
    ``on_step`` is called with each step as it ends (the command line prints it).
    """
    report = _sequence(pair, att, role, dry_run, reason, wait, settle, interval, on_step)
    outcome = (Outcome.DRY_RUN if report.dry_run else Outcome.DONE if report.completed
               else Outcome.PARTIAL if report.changed
               else Outcome.UNKNOWN if report.uncertain else Outcome.FAILED)
    (log.info if report.completed or report.dry_run else log.warning)(
        "%s: maintenance of the %s: %s", pair.name, role, report.message)
    att.close(outcome, report.summary())
    return report


def _sequence(pair: PairAccess, att: Attempt, role: Role, dry_run: bool, reason: str | None,
              wait: float, settle: float, interval: float,
              on_step: OnStep | None) -> MaintenanceReport:
    read = pair.state
    steps = _Steps(pair.name, role, dry_run, reason, on_step)
    other = role.other
    at, before = _now(), read()
    decision = guards.maintenance_start(role, before)
    if not decision.proceed:
        raise OperationRefused(decision.why, peer=str(role), operation="maintenance")
    plan = (f"shut down the {role}'s dhcpd, wait up to {wait:g} s until its host refuses "
            f"the connection and the {other} is communications-interrupted, then move the "
            f"{other} to partner-down")
    if dry_run:
        steps.add("check", at, StepOutcome.DRY_RUN, decision.why, [Observation.of(before)])
        return steps.report(False, f"would {plan}")
    steps.add("check", at, StepOutcome.DONE, decision.why, [Observation.of(before)])

    at = _now()
    try:
        att.send(role, shutdown_update())
    except NOT_TAKEN as exc:
        steps.add("shutdown", at, StepOutcome.FAILED, f"the {role} could not be told: {exc}")
        return steps.report(False, f"nothing changed: the {role}'s dhcpd could not be told "
                            f"to shut down ({exc})")
    except PeerError as exc:  # lost on the way: it may have reached dhcpd
        steps.add("shutdown", at, StepOutcome.UNKNOWN, f"sent to the {role}, then: {exc}")
        return steps.report(False, f"the shutdown was sent to the {role}, but {exc}: it may "
                            f"be shutting down; the {other} was NOT moved to partner-down. "
                            "Read the pair (omapifo status) before anything else")
    steps.add("shutdown", at, StepOutcome.DONE, f"told the {role}'s dhcpd to shut down "
              "(OMAPI control object, state 2)")

    at = _now()
    decision, st, changes = _watch(read, lambda s: guards.peer_stopped(role, s), wait, interval)
    if not decision.proceed:
        steps.add("wait", at, StepOutcome.TIMED_OUT, f"after {wait:g} s: {decision.why}",
                  changes)
        return steps.report(False, f"the {role} was told to shut down, but after {wait:g} s "
                            f"{decision.why}; the {other} was NOT moved to partner-down. "
                            "Find out what happened to the "
                            f"{role} (its console, its log) before anything else")
    steps.add("wait", at, StepOutcome.DONE, decision.why, changes)

    # the guard of partner-down decides on a fresh read, as FailoverPair.partner_down does
    at, st = _now(), read()
    decision = guards.partner_down(other, st, force=False, probe=probe_partner(pair, other, st))
    if decision.no_op:
        steps.add("partner-down", at, StepOutcome.NO_OP, decision.why, [Observation.of(st)])
        return steps.report(True, f"the {role} is shut down; {decision.why}")
    if not decision.proceed:
        steps.add("partner-down", at, StepOutcome.REFUSED, decision.why, [Observation.of(st)])
        return steps.report(False, f"the {role} was shut down, but the {other} was NOT moved "
                            f"to partner-down: {decision.why}")
    try:
        att.send(other, local_state_update(pair.config.failover_peer,
                                           FailoverState.PARTNER_DOWN))
    except PeerError as exc:
        steps.add("partner-down", at, StepOutcome.FAILED, f"the {other} could not be told: "
                  f"{exc}", [Observation.of(st)])
        return steps.report(False, f"the {role} was shut down, but the partner-down of the "
                            f"{other} failed ({exc}): read the pair, then `omapifo "
                            "partner-down` by hand")

    def moved(s: PairState) -> guards.Decision:
        now = s.peer(other).local_state
        return guards.Decision(now is FailoverState.PARTNER_DOWN, f"the {other} reads {now}",
                               decision.partner)
    after, _, changes = _watch(read, moved, settle, interval)
    if not after.proceed:
        steps.add("partner-down", at, StepOutcome.TIMED_OUT, f"sent, but after {settle:g} s "
                  f"{after.why}", changes)
        return steps.report(False, f"the {role} was shut down and the partner-down of the "
                            f"{other} sent, but {after.why}")
    steps.add("partner-down", at, StepOutcome.DONE, f"the {other} is now in partner-down "
              f"({decision.why})", changes)
    return steps.report(True, f"the {role} is shut down and the {other} is in partner-down: "
                        f"it serves every address. Once the {role}'s dhcpd is started again, "
                        f"follow it back with `omapifo maintenance end PAIR {role} --wait`")


# -- the way back: follow the restarted server through recover to normal ------------------


def recovery_timeout(st: PairState) -> float:
    """How long :func:`follow_recovery` waits by default: one MCLT (recover-wait lasts
    one) plus RECOVERY_MARGIN for starting dhcpd and recover."""
    mclt = st.primary.mclt or st.secondary.mclt or 3600  # dhcpd.conf(5)'s usual value
    return mclt + RECOVERY_MARGIN


def follow_recovery(read: Read, *, timeout: float | None = None,
                    interval: float = POLL_INTERVAL) -> Iterator[Observation]:
    """Both peers' states, each new pair once as it is read (the first read at once),
    until both are normal; ConvergenceError after ``timeout`` seconds (default
    :func:`recovery_timeout`). Only reads: dhcpd resynchronises by itself once started.
    """
    first = read()
    deadline = time.monotonic() + (recovery_timeout(first) if timeout is None else timeout)
    last: Observation | None = None
    st = first
    while True:
        obs = Observation.of(st)
        if last is None or obs.states != last.states:
            last = obs
            yield obs
        if obs.normal:
            return
        if time.monotonic() >= deadline:
            raise ConvergenceError(f"both peers were not normal in time: {obs}",
                                   operation="maintenance end")
        time.sleep(interval)
        st = read()
