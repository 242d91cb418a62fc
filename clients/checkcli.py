"""``omapifo check PAIR``: a Nagios/Icinga plugin (monitoring-plugins conventions).

One status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
(clients/exitcodes.py). The rating is omapifo.assess_health's, the same as the service's
and ``omapifo status``'s, except for communications-interrupted with a known start: there
``-w``/``-c`` are monitoring-plugins ranges (clients/nagrange.py) over the seconds a peer
has spent in it: a server that just died makes its partner communications-interrupted, and
that is what an admin must act on in time. ``-c`` defaults to the configuration's
``comms_interrupted_warning`` (omapifo.PEER_CRITICAL_AFTER unless set), the number
the service exports for the alerting rules: the check and the rules call a dead peer
critical at the same moment (docs/monitoring.md, "When a dead peer is critical").

``-c`` after ``check`` is the critical range; the configuration file before it is
``omapifo --config FILE`` (its ``-c`` works there too, but the long form cannot be misread).
Whatever goes wrong, the check answers UNKNOWN (3) within ``-t`` seconds: a traceback's
exit 1 would read as WARNING and a hung check as whatever Nagios makes of its own timeout.
"""
from __future__ import annotations

import argparse
import math
import sys
import threading
from pathlib import Path

from omapifo import (Config, FailoverState, Level, PEER_CRITICAL_AFTER, PairProbe, PairState,
                     PoolReport, __version__, assess_health, read_secret_file)

from .backend import Backend, DirectBackend, open_backend
from .exitcodes import CHECK_NAMES, CHECK_UNKNOWN, check_status
from .nagrange import Range

DEFAULT_TIMEOUT = 30.0  # below Nagios's service_check_timeout (60 s), above a pool scan


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="Nagios/Icinga plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, "
                       "3 UNKNOWN")
    p.add_argument("pair")
    p.add_argument("-w", "--warning", default="60", metavar="RANGE",
                   help="seconds in communications-interrupted outside this range: WARNING "
                   "(monitoring-plugins range: 60, 10:, ~:60, 10:60, @10:60; default 60)")
    # -c: the monitoring-plugins spelling every Nagios admin expects; after "check" it is
    # this option, before it the global -c/--config (docs use --config for that one)
    p.add_argument("-c", "--critical", metavar="RANGE",
                   help="the same for CRITICAL (default: the configuration's "
                   f"comms_interrupted_warning, {PEER_CRITICAL_AFTER:g} unless set, as the "
                   "service and its alerting rules); the configuration file is "
                   "omapifo --config FILE check ...")
    p.add_argument("-t", "--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"UNKNOWN when the whole check takes longer (default "
                   f"{DEFAULT_TIMEOUT:g})")
    p.add_argument("-V", "--version", action="version", version=f"omapifo check {__version__}")
    p.add_argument("--runway-warning", type=int, metavar="ADDRESSES",
                   help="a pool where a peer could hand out fewer addresses alone: WARNING "
                   "(scans the pools; off by default)")
    p.add_argument("--runway-critical", type=int, metavar="ADDRESSES",
                   help="the same for CRITICAL")
    p.add_argument("--probe", action="store_true",
                   help="also say whether each server answers DHCP: a probe sent from here "
                   "(needs port 67: root or CAP_NET_BIND_SERVICE), or with --api the "
                   "service's last probe. CRITICAL when a normal server does not answer, "
                   "or one answers while its partner is in partner-down")
    p.add_argument("--api", metavar="URL", help="ask the REST service (default "
                   "$OMAPIFO_API_URL; token from --token-file, $OMAPIFO_TOKEN_FILE or "
                   "$OMAPIFO_TOKEN)")
    # also before the command (omapifo --token-file PATH check ...): SUPPRESS keeps this
    # subparser's default from overwriting the global option's value
    p.add_argument("--token-file", metavar="PATH", default=argparse.SUPPRESS,
                   help="the reader token for --api, in a file only its owner (and group) may "
                   "read (Nagios command lines and environments are seen by others)")
    p.set_defaults(func=cmd_check, audit_log=None)


def evaluate(st: PairState, warn: Range, crit: Range) -> tuple[Level, str, str]:
    """(level, text, perfdata) of one pair's state at the moment it was read.

    omapifo.assess_health rates it with no communications-interrupted thresholds; then each
    peer's known seconds in communications-interrupted are rated by the ranges (an
    unknown time stays CRITICAL, as assess has it). A peer that does not answer while its
    partner has noticed (communications-interrupted or partner-down) is rated by the
    partner's state and clock, not by itself."""
    health = assess_health(st.primary, st.secondary, st.read_at, math.inf,
                    comms_interrupted_warning=math.inf, rate_unreachable_by_partner=True)
    level = health.level
    states: list[str] = []
    seconds: list[str] = []
    for view in (st.primary, st.secondary):
        states.append(f"{view.role}_state={int(view.local_state or 0)}")
        if not view.reachable:
            value = "U"  # monitoring-plugins' "could not be determined"
        elif view.local_state is not FailoverState.COMMUNICATIONS_INTERRUPTED:
            value = "0s"  # always present: a graph has no holes, a parser no missing label
        elif view.since is None:
            value = "U"  # dhcpd gave no time (assess: CRITICAL)
        else:
            age = (st.read_at - view.since).total_seconds()
            value = f"{int(age)}s"
            level = max(level, Level.CRITICAL if crit.alerts(age) else
                        Level.WARNING if warn.alerts(age) else Level.OK)
        # one label per peer: a cut link puts both in communications-interrupted
        seconds.append(f"{view.role}_comms_interrupted_seconds={value};{warn};{crit};0")
    text = f"{st.pair}: " + ", ".join(note.summary for note in health.notes)
    return level, text, " ".join(states + seconds)


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


def evaluate_probe(st: PairState, found: PairProbe) -> tuple[Level, str, str]:
    """(level, text, perfdata) of a probe round next to the state read. A server that
    reads normal and does not answer serves none of its clients; one that answers while
    its partner is in partner-down breaks partner-down's one assumption (both hand out
    addresses: draft-ietf-dhc-failover-12, 9.4). No answer from a server that is not
    normal is said, not rated again: its state is rated already."""
    level, words, perf = Level.OK, [], []
    for r in found.results:
        own, partner = st.peer(r.role).local_state, st.peer(r.role.other).local_state
        if r.answered:
            words.append(f"{r.role} serving")
            if partner is FailoverState.PARTNER_DOWN:
                level = Level.CRITICAL
                words[-1] = (f"{r.role} answers DHCP while the {r.role.other} is in "
                             "partner-down")
            perf.append(f"{r.role}_probe_seconds={r.latency or 0:.3f}s")
        else:
            words.append(f"{r.role} not answering DHCP" + (f" ({r.error})" if r.error else ""))
            if own is FailoverState.NORMAL:
                level = Level.CRITICAL
                words[-1] = f"{r.role} normal but not answering DHCP"
            perf.append(f"{r.role}_probe_seconds=U")
    return level, ", ".join(words), " ".join(perf)


def default_critical(config: Config | None) -> Range:
    """``-c`` when none is given: more than ``comms_interrupted_warning`` seconds of the
    configuration the check reads, the same number the service rates by and exports as
    ``omapifo_peer_critical_after_seconds`` for the rules. With ``--api`` the check reads no
    configuration: PEER_CRITICAL_AFTER, the service's default."""
    limit = PEER_CRITICAL_AFTER if config is None else config.service.comms_interrupted_warning
    return Range.parse(f"{limit:g}")


def read_token_file(path: str) -> str:
    """The token in ``path``, by the key files' rule: owner-only or group-readable (a
    root:nagios 0640 file, as the plugin's user reads it), never open to others."""
    return read_secret_file(Path(path), "--token-file")


def _backend(args: argparse.Namespace) -> Backend:
    return open_backend(args.config, args.api, None, token_file=args.token_file,
                        timeout=args.timeout)


def _run(args: argparse.Namespace, warn: Range, crit: Range | None) -> tuple[int, str]:
    """(exit status, status line) of the check; ``crit`` None: :func:`default_critical`."""
    backend = _backend(args)
    if crit is None:
        crit = default_critical(backend.config if isinstance(backend, DirectBackend) else None)
    try:
        pair = backend.pair(args.pair)
        st = pair.state()
        report = pair.pools() if (
            args.runway_warning is not None or args.runway_critical is not None) else None
        found = backend.monitoring_probe(args.pair) if args.probe else None
    finally:
        backend.close()
    level, text, perf = evaluate(st, warn, crit)
    if found is not None:
        p_level, p_text, p_perf = evaluate_probe(st, found)
        level = max(level, p_level)
        text += f", {p_text}"
        perf = f"{perf} {p_perf}".strip()
    if report is not None:
        r_level, r_text, r_perf = evaluate_runway(report, args.runway_warning,
                                                  args.runway_critical)
        level = max(level, r_level)
        text += f", {r_text}" if r_text else ""
        perf = f"{perf} {r_perf}".strip()
    status = check_status(level)
    return status, f"OMAPIFO {CHECK_NAMES[status]} - {text}" + (f" | {perf}" if perf else "")


def cmd_check(args: argparse.Namespace) -> int:
    result: list[tuple[int, str]] = []

    def work() -> None:
        try:
            result.append(_run(args, warn, crit))
        except Exception as exc:  # noqa: BLE001 - any failure to check is UNKNOWN, not a crash
            result.append((CHECK_UNKNOWN, f"OMAPIFO UNKNOWN - {exc}"))

    try:
        warn = Range.parse(args.warning)
        crit = None if args.critical is None else Range.parse(args.critical)
        if not args.timeout > 0:
            raise ValueError(f"-t {args.timeout:g}: the timeout must be above 0")
    except ValueError as exc:
        status, line = CHECK_UNKNOWN, f"OMAPIFO UNKNOWN - {exc}"
    else:
        # The whole check in a daemon thread: the OMAPI timeouts bound each request, not
        # a pool scan or a slow service; a check still running when -t runs out is left
        # behind (the process ends right after) and answers UNKNOWN.
        worker = threading.Thread(target=work, name="omapifo-check", daemon=True)
        worker.start()
        worker.join(args.timeout)
        status, line = result[0] if result else (
            CHECK_UNKNOWN, f"OMAPIFO UNKNOWN - {args.pair}: no answer within the check "
            f"timeout (-t {args.timeout:g} s)")
    print(line)
    sys.stdout.flush()
    return status
