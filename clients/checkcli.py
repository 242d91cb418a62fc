"""``omapifo check PAIR``: a Nagios/Icinga plugin (monitoring-plugins conventions).

One status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
(clients/exitcodes.py). The rating is omapifo.health.assess's, the same as the service's
and ``omapifo status``'s; ``-w``/``-c`` are its communications-interrupted thresholds (the
seconds a reachable peer may spend there before WARNING/CRITICAL): a server that just
died makes its partner communications-interrupted, and that is what an admin must act on
in time.
"""
from __future__ import annotations

import argparse
import sys

from omapifo import FailoverState, Level, PairState, PoolReport
from omapifo.errors import OmapifoError
from omapifo.health import assess

from .backend import open_backend
from .exitcodes import CHECK_NAMES, CHECK_UNKNOWN, check_status


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


def evaluate(st: PairState, warn: float, crit: float) -> tuple[Level, str, str]:
    """(level, text, perfdata) of one pair's state, rated by omapifo.health.assess with
    ``-w``/``-c`` as the communications-interrupted thresholds, at the moment it was read.

    A peer that does not answer while its partner has noticed (communications-interrupted
    or partner-down) is rated by the partner's state and clock, not by itself."""
    health = assess(st.primary, st.secondary, st.read_at, crit, comms_interrupted_warning=warn,
                    rate_unreachable_by_partner=True)
    perf = []
    for view in (st.primary, st.secondary):
        perf.append(f"{view.role}_state={int(view.local_state or 0)}")
        if view.local_state is FailoverState.COMMUNICATIONS_INTERRUPTED:
            since = view.since
            # "U": monitoring-plugins' "could not be determined" (dhcpd gave no time)
            value = f"{int((st.read_at - since).total_seconds())}s" if since else "U"
            # one label per peer: a cut link puts both in communications-interrupted
            perf.append(f"{view.role}_comms_interrupted_seconds={value};{warn:g};{crit:g};0")
    text = f"{st.pair}: " + ", ".join(note.summary for note in health.notes)
    return health.level, text, " ".join(perf)


def evaluate_runway(report: PoolReport, warn: int | None,
                    crit: int | None) -> tuple[Level, str, str]:
    """(level, text, perfdata) of the smallest runway of any failover pool."""
    runways = [(min(p.runway.values()), p.name) for p in report.pools if p.runway]
    if not runways:
        return Level.OK, "", ""
    low, name = min(runways)
    level = Level.CRITICAL if crit is not None and low < crit else \
        Level.WARNING if warn is not None and low < warn else Level.OK
    text = f"runway {low} in {name}" if level is not Level.OK else ""
    return level, text, f"min_runway={low};{warn if warn is not None else ''};" \
                        f"{crit if crit is not None else ''};0"


def cmd_check(args: argparse.Namespace) -> int:
    try:
        if args.warning > args.critical:
            raise ValueError("-w must not be larger than -c")
        backend = open_backend(args.config, args.api, None)
        try:
            st = backend.state(args.pair)
            # evaluate_runway() reads the REST shape; dump the library's report into it
            report = backend.pools(args.pair, None, None) if (
                args.runway_warning is not None or args.runway_critical is not None) else None
        finally:
            backend.close()
        level, text, perf = evaluate(st, args.warning, args.critical)
        if report is not None:
            r_level, r_text, r_perf = evaluate_runway(report, args.runway_warning,
                                                      args.runway_critical)
            level = max(level, r_level)
            text += f", {r_text}" if r_text else ""
            perf = f"{perf} {r_perf}".strip()
    except (OmapifoError, ValueError) as exc:
        print(f"OMAPIFO UNKNOWN - {exc}")
        return CHECK_UNKNOWN
    status = check_status(level)
    print(f"OMAPIFO {CHECK_NAMES[status]} - {text}" + (f" | {perf}" if perf else ""))
    sys.stdout.flush()
    return status
