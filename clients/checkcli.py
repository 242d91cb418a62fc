"""``omapifo check PAIR``: a Nagios/Icinga plugin (monitoring-plugins conventions).

One status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
``-w``/``-c`` are the seconds a reachable peer may spend in communications-interrupted
before WARNING/CRITICAL: a server that just died makes its partner
communications-interrupted, and that is what an admin must act on in time.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from omapifo import FailoverState
from omapifo.api.schemas import PairStateSchema, PoolReportSchema
from omapifo.errors import OmapifoError
from omapifo.health import CRITICAL_STATES, WARNING_STATES

from .backend import open_backend

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="Nagios/Icinga plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, "
                       "3 UNKNOWN")
    p.add_argument("pair")
    p.add_argument("-w", "--warning", type=float, default=60.0, metavar="SECONDS",
                   help="communications-interrupted longer than this: WARNING (default 60)")
    p.add_argument("-c", "--critical", type=float, default=300.0, metavar="SECONDS",
                   help="communications-interrupted longer than this: CRITICAL (default 300)")
    p.add_argument("--runway-warning", type=int, metavar="ADDRESSES",
                   help="a pool where a peer could hand out fewer addresses alone: WARNING "
                   "(scans the pools; off by default)")
    p.add_argument("--runway-critical", type=int, metavar="ADDRESSES",
                   help="the same for CRITICAL")
    p.add_argument("--api", metavar="URL", help="ask the REST service (token in OMAPIFO_TOKEN)")
    p.set_defaults(func=cmd_check, audit_log=None)


def evaluate(st: dict[str, Any], warn: float, crit: float,
             now: datetime | None = None) -> tuple[int, str, str]:
    """(status, text, perfdata) of one pair's state (the REST/--json shape)."""
    now = now or datetime.now(timezone.utc)
    status, notes, perf = OK, [], []
    views = {r: st[r] for r in ("primary", "secondary")}
    reachable = [r for r, v in views.items() if v["reachable"]]
    if not reachable:
        return CRITICAL, "neither peer answers over OMAPI", ""
    for role, v in views.items():
        if not v["reachable"]:
            notes.append(f"{role} unreachable")
            perf.append(f"{role}_state=0")
            other = views["secondary" if role == "primary" else "primary"]
            if other["local_state"]["name"] not in ("communications-interrupted", "partner-down"):
                status = max(status, CRITICAL)  # its partner has not even noticed: odd
            continue
        name = v["local_state"]["name"]
        perf.append(f"{role}_state={v['local_state']['number']}")
        seconds = (now - datetime.fromisoformat(v["since"])).total_seconds() if v["since"] else 0
        if name == "communications-interrupted":
            level = CRITICAL if seconds >= crit else WARNING if seconds >= warn else OK
            status = max(status, level)
            notes.append(f"{role} communications-interrupted for {int(seconds)}s")
            # one label per peer: a cut link puts both in communications-interrupted
            perf.append(f"{role}_comms_interrupted_seconds={int(seconds)}s;{warn:g};{crit:g};0")
        elif FailoverState.from_name(name) in CRITICAL_STATES:
            status = max(status, CRITICAL)
            notes.append(f"{role} {name}")
        elif FailoverState.from_name(name) in WARNING_STATES:
            status = max(status, WARNING)
            notes.append(f"{role} {name}")
    if all(v["reachable"] and v["local_state"]["name"] == "partner-down"
           for v in views.values()):
        # each a warning alone, together a split brain: both hand out every address
        status = CRITICAL
        notes.append("both partner-down (split brain): stop one server now")
    if status == OK and not notes:
        notes.append("both peers normal")
    return status, f"{st['pair']}: " + ", ".join(notes), " ".join(perf)


def evaluate_runway(report: dict[str, Any], warn: int | None,
                    crit: int | None) -> tuple[int, str, str]:
    """(status, text, perfdata) of the smallest runway of any failover pool."""
    runways = [(min(p["runway"].values()), p["name"]) for p in report["pools"] if p["runway"]]
    if not runways:
        return OK, "", ""
    low, name = min(runways)
    status = CRITICAL if crit is not None and low < crit else \
        WARNING if warn is not None and low < warn else OK
    text = f"runway {low} in {name}" if status != OK else ""
    return status, text, f"min_runway={low};{warn if warn is not None else ''};" \
                         f"{crit if crit is not None else ''};0"


def cmd_check(args: argparse.Namespace) -> int:
    try:
        if args.warning > args.critical:
            raise ValueError("-w must not be larger than -c")
        backend = open_backend(args.config, args.api, None)
        try:
            # evaluate() reads the REST shape; dump the library's objects into it
            st = PairStateSchema().dump(backend.state(args.pair))
            report = PoolReportSchema().dump(backend.pools(args.pair, None, None)) if (
                args.runway_warning is not None or args.runway_critical is not None) else None
        finally:
            backend.close()
        status, text, perf = evaluate(st, args.warning, args.critical)
        if report is not None:
            r_status, r_text, r_perf = evaluate_runway(report, args.runway_warning,
                                                       args.runway_critical)
            status = max(status, r_status)
            text += f", {r_text}" if r_text else ""
            perf = f"{perf} {r_perf}".strip()
    except (OmapifoError, ValueError) as exc:
        print(f"OMAPIFO UNKNOWN - {exc}")
        return UNKNOWN
    print(f"OMAPIFO {NAMES[status]} - {text}" + (f" | {perf}" if perf else ""))
    sys.stdout.flush()
    return status
