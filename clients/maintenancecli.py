"""``omapifo maintenance start | end``: planned maintenance of one server of a pair.

``start`` shuts the peer down, waits until it has stopped and moves its partner to
partner-down, in one audited step (omapifo/_maintenance.py); ``end --wait`` follows the pair
back to normal once the admin has started that dhcpd again, printing each pair of states
as it is read. The library does the work; this only asks, calls and prints.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from omapifo import DEFAULT_STOP_WAIT, MaintenanceReport, MaintenanceStep, Observation, Operation
from omapifo.api import schemas as s

from . import output as out
from .exitcodes import EXIT_FAILED, EXIT_OK
from .paircli import _changes, _common, _confirm, _pair

_OBSERVATION = s.ObservationSchema()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("maintenance", help="planned maintenance of one server: shut it down "
                       "and move its partner to partner-down; follow it back to normal")
    msub = p.add_subparsers(dest="maintenance_command", required=True, metavar="COMMAND")

    start = msub.add_parser("start", help="shut PEER down, wait until it has stopped, move its "
                            "partner to partner-down (guarded; asks to confirm)")
    start.add_argument("pair")
    start.add_argument("peer", choices=["primary", "secondary"])
    start.add_argument("--reason", help="why, for the audit trail")
    start.add_argument("--wait", type=float, default=DEFAULT_STOP_WAIT, metavar="SECONDS",
                       help="how long to wait for PEER to stop (default %(default)g; "
                       "measured 8-12 s in the lab)")
    _changes(start)
    start.set_defaults(func=cmd_start)

    end = msub.add_parser("end", help="once PEER's dhcpd runs again: where the pair is on its "
                          "way back to normal (--wait: follow it there)")
    end.add_argument("pair")
    end.add_argument("peer", choices=["primary", "secondary"])
    end.add_argument("--wait", action="store_true", help="print each new pair of states "
                     "until both are normal (recover, recover-wait, normal)")
    end.add_argument("--timeout", type=float, metavar="SECONDS", help="give up waiting after "
                     "this long (default: one MCLT plus 300 s)")
    _common(end)
    end.set_defaults(func=cmd_end)


def _clock(t: datetime) -> str:
    return t.astimezone().strftime("%H:%M:%S")


def _line(obs: Observation) -> str:
    text = f"{_clock(obs.at)}  primary {obs.primary}, secondary {obs.secondary}"
    if obs.recover_wait_until:
        left = max(0, round((obs.recover_wait_until - obs.at).total_seconds()))
        text += f" (recover-wait ends {_clock(obs.recover_wait_until)}, in {left} s)"
    return text


def print_step(step: MaintenanceStep) -> None:
    print(f"{_clock(step.at)}  {step.what}: {out.colour(str(step.outcome))}, {step.message}")
    for obs in step.seen:
        print(f"    {_line(obs)}")


def print_report(report: MaintenanceReport, printed: int = 0) -> None:
    """The steps not printed yet (``printed``: as they came, directly), then the message."""
    for step in report.steps[printed:]:
        print_step(step)
    print(report.message)


def cmd_start(args: argparse.Namespace) -> int:
    printed: list[MaintenanceStep] = []

    def as_it_comes(step: MaintenanceStep) -> None:  # directly: each step once it ends
        if not args.json:
            print_step(step)
            sys.stdout.flush()
            printed.append(step)
    with _pair(args, Operation.MAINTENANCE) as pair:
        _confirm(args, f"maintenance of the {args.peer} of {args.pair} (shutdown, then "
                 "partner-down of its partner)")
        report = pair.maintenance(args.peer, reason=args.reason, dry_run=args.dry_run,
                                  wait=args.wait, on_step=as_it_comes)
    if args.json:
        out.dump_json(s.MaintenanceReportSchema().dump(report))
    else:
        print_report(report, len(printed))
    return EXIT_OK if report.completed or report.dry_run else EXIT_FAILED


def cmd_end(args: argparse.Namespace) -> int:
    with _pair(args, Operation.RECOVERY) as pair:
        if not args.wait:
            obs = Observation.of(pair.state())
            print(json.dumps(_OBSERVATION.dump(obs)) if args.json else _line(obs))
            return EXIT_OK if obs.normal else EXIT_FAILED
        for obs in pair.follow_recovery(timeout=args.timeout):  # ConvergenceError: exit 1
            print(json.dumps(_OBSERVATION.dump(obs)) if args.json else _line(obs), flush=True)
    return EXIT_OK
