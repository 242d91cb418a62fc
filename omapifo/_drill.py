"""Failover drills: a planned maintenance of one server, checked with DHCP probes.

A drill answers the question an admin cannot answer from OMAPI alone: if this server
goes away, does the other really serve everybody, and does the pair come back? Steps,
each recorded with its time, the states seen and the probes' answers:

1. ``probe before``: both servers answer, and two probe hardware addresses are found
   whose clients belong to different servers (``secs`` 0: only the server the client's
   hash belongs to answers; dhcpd.conf(5), "load balance max seconds");
2. ``maintenance``: the planned maintenance (omapifo._maintenance: shut the server down,
   wait until it has stopped, partner-down of its partner), with its own guards and
   audit record;
3. ``survivor serves``: the partner, now in partner-down, answers both clients (its own
   share and the stopped server's) at ``secs`` 0, and the stopped server answers none;
4. ``start``: the stopped server is started again by a configured command, or by the
   admin (the drill waits);
5. ``recovery``: both peers' states followed until both are normal (recover, recover-wait
   one MCLT);
6. ``probe after``: both servers answer again.

The drill stops at the first step that fails and says what is left as it is. It has an
audit record of its own (action "drill"), beside the maintenance's.
"""
from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ._audit import AuditRecord, AuditSink, Outcome
from ._contract import Pair
from ._errors import ConvergenceError, OmapifoError
from ._maintenance import DEFAULT_STOP_WAIT, MaintenanceReport, Observation
from ._probe import ProbeResult, probe_mac
from ._states import Role

ACTION = "drill"
STEPS = ("probe before", "maintenance", "survivor serves", "start", "recovery", "probe after")
# candidate hardware addresses tried to find one client of each server's share: each
# belongs to one of two shares (split 128 of 255 in the seed: about half), so 8 leave
# 1 chance in 128 of finding no client of one share
SHARE_CANDIDATES = 8
START_TIMEOUT = 120.0  # seconds the start command may take

#: Starts the stopped server's dhcpd again (the drill's step 4); None: the admin does.
Start = Callable[[Role], str]
OnDrillStep = Callable[["DrillStep"], None]


@dataclass(frozen=True)
class DrillStep:
    """One step of a drill: what, when it began and ended (aware UTC), whether it went as
    it should, why, the states seen and the probes' answers."""

    what: str
    at: datetime
    ended: datetime
    ok: bool
    message: str
    seen: tuple[Observation, ...] = ()
    probes: tuple[ProbeResult, ...] = ()

    def __str__(self) -> str:
        return f"{self.what} {'ok' if self.ok else 'FAILED'}: {self.message}"


@dataclass(frozen=True)
class DrillReport:
    """What a drill did; ``completed``: every step went as it should."""

    pair: str
    role: Role
    completed: bool
    message: str
    steps: tuple[DrillStep, ...]
    maintenance: MaintenanceReport | None = None
    reason: str | None = None

    @property
    def at(self) -> datetime:
        return self.steps[0].at if self.steps else datetime.now(timezone.utc)

    @property
    def ended(self) -> datetime:
        return self.steps[-1].ended if self.steps else self.at

    def summary(self) -> str:
        """One line for the audit record: the message, then each step."""
        return self.message + " | " + "; ".join(
            f"{s.what} {'ok' if s.ok else 'FAILED'} at {s.at.isoformat(timespec='seconds')}"
            for s in self.steps)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def command_start(command: str, *, timeout: float = START_TIMEOUT) -> Start:
    """A :data:`Start` that runs ``command`` (split as a shell would, never through one),
    with ``{role}`` replaced by the server's role; its output is the step's message."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("the drill's start command is empty")

    def start(role: Role) -> str:
        run = [a.replace("{role}", str(role)) for a in argv]
        try:
            done = subprocess.run(run,
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.SubprocessError) as exc:  # not found, timed out
            raise OmapifoError(f"the start command {command!r} failed: {exc}",
                               peer=str(role), operation=ACTION) from None
        said = (done.stdout + done.stderr).strip().splitlines()
        if done.returncode != 0:
            raise OmapifoError(f"the start command exited {done.returncode}: "
                               f"{said[-1] if said else '(no output)'}", peer=str(role),
                               operation=ACTION)
        return f"ran {shlex.join(run)}" + (f": {said[-1]}" if said else "")
    return start


class _Run:
    """The steps so far of one drill."""

    def __init__(self, pair: Pair, role: Role, on_step: OnDrillStep | None) -> None:
        self.pair, self.role, self.on_step = pair, role, on_step
        self.steps: list[DrillStep] = []

    def add(self, what: str, at: datetime, ok: bool, message: str,
            seen: Sequence[Observation] = (), probes: Sequence[ProbeResult] = ()) -> bool:
        step = DrillStep(what, at, _now(), ok, message, tuple(seen), tuple(probes))
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        return ok

    def probe(self, role: Role, mac: str, secs: int | None = None) -> ProbeResult:
        found = self.pair.probe([role], secs=secs, macs={role: mac})
        result = found.result(role)
        assert result is not None  # one role asked, one result
        return result


def _shares(run: _Run) -> tuple[dict[Role, str], list[ProbeResult]]:
    """One probe hardware address whose client each server answers alone at secs 0, and
    the probes that found them (both servers asked in each round)."""
    found: dict[Role, str] = {}
    probes: list[ProbeResult] = []
    for i in range(SHARE_CANDIDATES):
        mac = probe_mac(f"{run.pair.name}/drill/{i}", run.role)
        got = run.pair.probe(list(Role), secs=0, macs={r: mac for r in Role})
        probes += got.results
        if len(got.serving) == 1:
            found.setdefault(got.serving[0], mac)
        if len(found) == 2:
            break
    return found, probes


def run_drill(pair: Pair, role: Role | str, *, start: Start | None, reason: str | None = None,
          audit: AuditSink | None = None, actor: str = "library",
          stop_wait: float = DEFAULT_STOP_WAIT, recovery_timeout: float | None = None,
          on_step: OnDrillStep | None = None,
          wait_for_admin: Callable[[Role], None] | None = None) -> DrillReport:
    """Drill the failover of ``role``: see the module. ``start`` starts its dhcpd again;
    without one, ``wait_for_admin`` is told (the command line prints what to do) and the
    recovery step waits for the admin. ``audit`` records the drill itself (begun before
    anything is sent; AuditUnavailable otherwise). Exceptions of the steps end the drill
    as a failed step; the report says what is left as it is."""
    role = Role.parse(role)
    survivor = role.other
    started = _now()
    record_id = None
    if audit is not None:
        record_id = audit.begin(AuditRecord(started, actor, pair.name, str(role), ACTION,
                                            reason=reason))
    run = _Run(pair, role, on_step)
    maintenance: MaintenanceReport | None = None
    message = "interrupted"
    try:
        maintenance, message = _steps(run, survivor, start, reason, actor, stop_wait,
                                      recovery_timeout, wait_for_admin)
    except Exception as exc:  # noqa: BLE001 - any failure ends the drill as a failed step
        said = str(exc) if isinstance(exc, OmapifoError) else f"{type(exc).__name__}: {exc}"
        run.add("error", _now(), False, said)
        message = f"stopped: {said}; {_left(run)}"
    finally:  # on Ctrl-C too: the record is finished, never left open
        completed = [s.what for s in run.steps] == list(STEPS) and all(s.ok for s in run.steps)
        report = DrillReport(pair.name, role, completed,
                             message if message != "interrupted" else f"interrupted; "
                             f"{_left(run)}", tuple(run.steps), maintenance, reason)
        if audit is not None and record_id is not None:
            audit.finish(record_id, Outcome.DONE if completed else Outcome.FAILED,
                         report.summary())
    return report


def _left(run: _Run) -> str:
    """What a drill that stopped early leaves as it is, and what to do."""
    role, survivor = run.role, run.role.other
    done = {s.what for s in run.steps if s.ok}
    if "maintenance" not in done:
        return ("nothing was changed by the drill itself; if its maintenance stopped half-way, "
                "its message says where")
    if "recovery" in done:
        return "the pair was normal again"
    return (f"the {role} is stopped (or starting) and the {survivor} is in partner-down: "
            f"start the {role}'s dhcpd and follow it back with `omapifo maintenance end "
            f"{run.pair.name} {role} --wait`")


def _steps(run: _Run, survivor: Role, start: Start | None, reason: str | None, actor: str,
           stop_wait: float, recovery_timeout: float | None,
           wait_for_admin: Callable[[Role], None] | None
           ) -> tuple[MaintenanceReport | None, str]:
    role, pair = run.role, run.pair
    # 1. both serve, and a client of each share
    at = _now()
    before = pair.probe()
    shares, share_probes = _shares(run)
    missing = [r for r in Role if r not in shares]
    ok = not missing and len(before.serving) == 2
    why = (f"both servers answer; {shares.get(Role.PRIMARY)} is a client of the primary's "
           f"share, {shares.get(Role.SECONDARY)} of the secondary's") if ok else (
        f"servers answering: {', '.join(map(str, before.serving)) or 'none'}"
        + (f"; no client of the {' or '.join(map(str, missing))}'s share found in "
           f"{SHARE_CANDIDATES} tries (secs 0)" if missing else ""))
    if not run.add("probe before", at, ok, why, probes=[*before.results, *share_probes]):
        return None, f"not started: {why}"
    # 2. the planned maintenance
    at = _now()
    maint = pair.maintenance(role, reason=reason or f"drill of the {role}", wait=stop_wait,
                             actor=actor)
    seen = [o for s in maint.steps for o in s.seen]
    if not run.add("maintenance", at, maint.completed, maint.message, seen=seen):
        return maint, f"the maintenance did not complete: {maint.message}"
    # 3. the survivor serves both shares; the stopped server serves nobody
    at = _now()
    served = [run.probe(survivor, shares[r], secs=0) for r in Role]
    silent = run.probe(role, shares[role], secs=0)
    wrong = [p for p in served if not p.answered] + ([silent] if silent.answered else [])
    ok = not wrong
    why = (f"the {survivor} (partner-down) answers clients of both shares; the {role} "
           "answers none") if ok else "; ".join(p.describe() for p in wrong)
    if not run.add("survivor serves", at, ok, why, probes=[*served, silent]):
        if silent.answered:  # the one outcome worse than a failed drill
            return maint, (f"the {role} answers DHCP while the {survivor} is in "
                           f"partner-down: both hand out addresses. Stop the {role}'s dhcpd "
                           f"now ({why})")
        return maint, f"the {survivor} does not serve as it should: {why}; {_left(run)}"
    # 4. start the stopped server again
    at = _now()
    if start is not None:
        said = start(role)
    else:
        if wait_for_admin is not None:
            wait_for_admin(role)
        said = f"waiting for the admin to start the {role}'s dhcpd"
    run.add("start", at, True, said)
    # 5. recovery, followed to normal
    at = _now()
    seen = []
    try:
        for obs in pair.follow_recovery(timeout=recovery_timeout):
            seen.append(obs)
    except ConvergenceError as exc:
        run.add("recovery", at, False, str(exc), seen=seen)
        return maint, f"the pair did not come back to normal in time: {exc}"
    run.add("recovery", at, True, "both peers are normal again", seen=seen)
    # 6. both serve again
    at = _now()
    after = pair.probe()
    ok = len(after.serving) == 2
    why = "both servers answer again" if ok else "; ".join(r.describe() for r in after.results)
    run.add("probe after", at, ok, why, probes=after.results)
    if not ok:
        return maint, f"the pair is normal but a server does not answer: {why}"
    return maint, f"drill of the {role} passed: the {survivor} served both shares alone and " \
                  "the pair came back to normal"

