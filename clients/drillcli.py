"""``omapifo drill PAIR PEER``: a failover drill of PEER, checked with DHCP probes.

The steps (omapifo/_drill.py) are printed as they end; the report goes to the audit trail
and, with ``--json`` or ``--report FILE``, as JSON. Exit 0 when every step went as it
should, 1 when one did not (the last line says what is left as it is).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omapifo import (ConfigError, DEFAULT_STOP_WAIT, DrillStep, Operation, Role, command_start,
                     run_drill)
from omapifo.api import schemas as s

from . import output as out
from .backend import DirectBackend
from .exitcodes import EXIT_FAILED, EXIT_OK
from .paircli import _backend, _changes, _confirm

_REPORT = s.DrillReportSchema()
# what a drill needs of the pair, asked before anybody is asked to confirm
NEEDS = (Operation.STATE, Operation.PROBE, Operation.MAINTENANCE, Operation.RECOVERY)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drill", help="failover drill: planned maintenance of PEER, probes "
                       "that its partner serves everybody, PEER started again, the recovery "
                       "followed, probes again (asks to confirm)")
    p.add_argument("pair")
    p.add_argument("peer", choices=[str(r) for r in Role])
    p.add_argument("--start-command", metavar="CMD", help="starts PEER's dhcpd again ({role} "
                   "is replaced by the peer; split like a shell, never run by one); without "
                   "it the drill waits for you to start it")
    p.add_argument("--reason", help="why, for the audit trail")
    p.add_argument("--wait", type=float, default=DEFAULT_STOP_WAIT, metavar="SECONDS",
                   help=f"for PEER to stop (default {DEFAULT_STOP_WAIT:g})")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="for the recovery to "
                   "normal (default one MCLT and a margin)")
    p.add_argument("--report", type=Path, metavar="FILE", help="write the report as JSON")
    _changes(p)
    p.set_defaults(func=cmd_drill)


def _show(step: DrillStep) -> None:
    mark = "ok" if step.ok else "FAILED"
    out.say(f"{step.ended.astimezone().strftime('%H:%M:%S')} {mark} {step.what}: "
            f"{step.message}")
    for obs in step.seen:
        out.say(f"    {obs}")


def cmd_drill(args: argparse.Namespace) -> int:
    if args.dry_run:
        raise ConfigError("a drill stops a server for real; for a dry run of its maintenance "
                          "step: omapifo maintenance start PAIR PEER --dry-run")
    backend = _backend(args)
    try:
        if not isinstance(backend, DirectBackend):
            raise ConfigError("a drill runs where its audit trail is: straight over OMAPI "
                              "(drop --api), or scheduled by the service")
        pair = backend.pair(args.pair)
        for operation in NEEDS:
            if operation not in pair.supports:
                raise ConfigError(f"pair {args.pair!r} does not do {operation}")
        if pair.config.probe_giaddr is None:
            raise ConfigError(f"pair {args.pair!r} has no probe_giaddr: a drill checks with "
                              "DHCP probes that the partner serves (docs/probes.md)")
        start = command_start(args.start_command) if args.start_command else None
        _confirm(args, f"a drill of the {args.peer} of {args.pair}: it is shut down and its "
                 "partner put in partner-down")

        def tell(role: Role) -> None:  # stderr: --json's stdout is the report alone
            out.say(f"start the {role}'s dhcpd now; waiting for the pair to come back",
                    sys.stderr)
        report = run_drill(pair, args.peer, start=start, reason=args.reason,
                           audit=backend.audit, actor=backend.actor, stop_wait=args.wait,
                           recovery_timeout=args.timeout,
                           on_step=None if args.json else _show, wait_for_admin=tell)
    finally:
        backend.close()
    body = _REPORT.dump(report)
    if args.report:
        args.report.write_text(json.dumps(body, indent=2) + "\n")
    if args.json:
        out.dump_json(body)
    else:
        out.say(report.message)
    return EXIT_OK if report.completed else EXIT_FAILED
