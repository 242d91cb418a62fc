"""``omapifo status | partner-down | shutdown | history | lease ...``."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime

from omapifo import LeaseView, PairState, Role
from omapifo.api import schemas as s
from omapifo.errors import ConfigError, OperationRefused

from . import output as out
from .backend import Backend, open_backend
from .exitcodes import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE

_STATE = s.PairStateSchema()



def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", metavar="URL", help="go through the REST service (token in "
                   "OMAPIFO_TOKEN) instead of OMAPI")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _writes(p: argparse.ArgumentParser) -> None:
    """Only the subcommands that change something take --audit-log."""
    p.add_argument("--audit-log", help="where direct changes are audited (default "
                   "~/.local/state/omapifo/audit.log, or OMAPIFO_AUDIT_LOG)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="both peers' failover state and the pair's health")
    p.add_argument("pair", nargs="?", help="one pair (default: every configured pair)")
    _common(p)
    p.set_defaults(func=cmd_status)

    for name, text in (("partner-down", "move PEER into partner-down (guarded)"),
                       ("shutdown", "stop PEER's dhcpd for maintenance (OMAPI control object)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("pair")
        p.add_argument("peer", choices=["primary", "secondary"])
        p.add_argument("--force", action="store_true", help="skip the check that the partner "
                       "is unreachable from here (never the split-brain check); needs --reason")
        p.add_argument("--reason", help="why, for the audit trail")
        p.add_argument("--dry-run", action="store_true", help="check everything, change nothing")
        p.add_argument("--yes", action="store_true", help="do not ask to type the pair's name")
        _common(p)
        _writes(p)
        p.set_defaults(func=cmd_action, action=name)

    p = sub.add_parser("history", help="state transitions the service recorded")
    p.add_argument("pair")
    p.add_argument("--limit", type=int, default=20)
    _common(p)
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("pools", help="pool counts and each peer's runway (live scan, or "
                       "--leases FILE offline)")
    p.add_argument("pair")
    p.add_argument("--leases", metavar="FILE", help="count from this dhcpd.leases instead of "
                   "scanning over OMAPI")
    _common(p)
    p.set_defaults(func=cmd_pools)

    lease = sub.add_parser("lease", help="look up or release a lease on both peers")
    lsub = lease.add_subparsers(dest="lease_command", required=True, metavar="COMMAND")
    show = lsub.add_parser("show", help="a lease by IP, --mac or --client-id")
    show.add_argument("pair")
    show.add_argument("ip", nargs="?")
    show.add_argument("--mac")
    show.add_argument("--client-id")
    _common(show)
    show.set_defaults(func=cmd_lease_show)
    rel = lsub.add_parser("release", help="release an active lease (asks to confirm)")
    rel.add_argument("pair")
    rel.add_argument("ip")
    rel.add_argument("--dry-run", action="store_true")
    rel.add_argument("--yes", action="store_true")
    _common(rel)
    _writes(rel)
    rel.set_defaults(func=cmd_lease_release)


def _backend(args: argparse.Namespace) -> Backend:
    # read-only subcommands have no --audit-log: they audit nothing
    return open_backend(args.config, args.api, getattr(args, "audit_log", None))


def _confirm(args: argparse.Namespace, what: str) -> None:
    # a dry run asks too: a backend that dropped the flag must not act unconfirmed
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{what} needs confirmation: run it on a terminal, or add --yes")
    print(f"{what}.\nType the pair's name ({args.pair}) to go ahead: ", end="", flush=True)
    if sys.stdin.readline().strip() != args.pair:
        raise OperationRefused("not confirmed; nothing was changed", operation=what)


def _when(t: datetime | None) -> str:
    return out.age(t.isoformat()) if t else ""


def _peer_rows(st: PairState) -> list[list[str]]:
    rows = []
    for role in Role:
        p = st.peer(role)
        local = str(p.local_state) if p.reachable else "unreachable"
        rows.append([st.pair, str(role), str(p.endpoint), out.colour(local),
                     str(p.partner_state) if p.reachable else "-",
                     _when(p.since) if p.reachable else (p.error or "")])
    return rows


PEER_HEADER = ["PAIR", "PEER", "OMAPI", "STATE", "SEES PARTNER AS", "SINCE"]


def cmd_status(args: argparse.Namespace) -> int:
    backend = _backend(args)
    try:
        states = [backend.state(args.pair)] if args.pair else backend.states()
    finally:
        backend.close()
    if args.json:
        out.dump_json(_STATE.dump(states[0]) if args.pair else _STATE.dump(states, many=True))
    else:
        out.table([r for st in states for r in _peer_rows(st)], PEER_HEADER)
        for st in states:
            print(f"\n{st.pair}: {out.colour(str(st.health.level))}")
            for reason in st.health.reasons:
                out.say(f"  - {reason}")
    if any(not st.peer(r).reachable for st in states for r in Role):
        return EXIT_UNREACHABLE
    return EXIT_OK if all(st.health.ok for st in states) else EXIT_FAILED


def cmd_action(args: argparse.Namespace) -> int:
    # --force without --reason is refused by the library, which records the refusal
    _confirm(args, f"{args.action} of the {args.peer} of {args.pair}")
    backend = _backend(args)
    try:
        method = backend.partner_down if args.action == "partner-down" else backend.shutdown
        result = method(args.pair, args.peer, force=args.force, reason=args.reason,
                        dry_run=args.dry_run)
    finally:
        backend.close()
    if args.json:
        out.dump_json(s.ActionResultSchema().dump(result))
    else:
        out.say(result.message)
        if result.evidence:
            out.say(f"evidence about the partner: {result.evidence}")
        out.table(_peer_rows(result.after or result.before), PEER_HEADER)
    return EXIT_FAILED if result.split_brain else EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    backend = _backend(args)
    try:
        hist = backend.history(args.pair, args.limit)
    finally:
        backend.close()
    if args.json:
        out.dump_json(hist)
        return EXIT_OK
    rows = [[out.age(t["at"]).replace("since ", ""), t["peer"], t["field"], t["from"] or "-",
             out.colour(t["to"] or "-")] for t in hist["transitions"]]
    out.table(rows, ["WHEN", "PEER", "WHAT", "FROM", "TO"])
    return EXIT_OK


def cmd_pools(args: argparse.Namespace) -> int:
    progress = None
    if sys.stderr.isatty() and not args.json:
        def progress(done: int, total: int) -> None:
            width = 30
            filled = width * done // total
            print(f"\rscanning [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
                  end="" if done < total else "\n", file=sys.stderr, flush=True)
    backend = _backend(args)
    try:
        report = backend.pools(args.pair, args.leases, progress)
    finally:
        backend.close()
    if args.json:
        out.dump_json(s.PoolReportSchema().dump(report))
        return EXIT_OK
    rows = [[p.name, str(p.total), str(p.active), str(p.free), str(p.backup),
             str(p.expired + p.released + p.abandoned), f"{p.utilization:.1f}%",
             str(p.runway.get("primary", "-")), str(p.runway.get("secondary", "-"))]
            for p in report.pools]
    out.table(rows, ["POOL", "TOTAL", "ACTIVE", "FREE", "BACKUP", "EXP/REL/ABAND", "USED",
                     "RUNWAY PRIMARY", "RUNWAY SECONDARY"])
    print(f"\n{report.source} scan, {_when(report.scanned_at).replace('since ', '')} "
          f"({report.duration:.2f} s)")
    for role, err in report.errors.items():
        out.say(f"  the {role} could not be scanned ({err}); counts are the other peer's view")
    return EXIT_OK


def _print_lease(view: LeaseView) -> None:
    state = str(view.state) if view.state else "unknown"
    print(f"{view.ip}: {out.colour(state)}, peers {'agree' if view.agree else 'DISAGREE'}"
          + (f", served by the {view.serving}" if view.serving else ""))
    rows = []
    for role in Role:
        le = view.peer(role)
        if le is None:
            rows.append([str(role), view.errors.get(role, "not known"), "", "", ""])
        else:
            rows.append([str(role), str(le.state), le.hardware_address or "-",
                         le.client_hostname or "-", le.ends.isoformat() if le.ends else "-"])
    out.table(rows, ["PEER", "STATE", "HARDWARE", "HOSTNAME", "ENDS (UTC)"])
    for d in view.differences:
        out.say(f"  differs: {d}")


def cmd_lease_show(args: argparse.Namespace) -> int:
    if sum(x is not None for x in (args.ip, args.mac, args.client_id)) != 1:
        raise ConfigError("give exactly one of IP, --mac or --client-id")
    backend = _backend(args)
    try:
        view = backend.lease(args.pair, args.ip, args.mac, args.client_id)
    finally:
        backend.close()
    out.dump_json(s.LeaseViewSchema().dump(view)) if args.json else _print_lease(view)
    return EXIT_OK


def cmd_lease_release(args: argparse.Namespace) -> int:
    _confirm(args, f"release of {args.ip} in {args.pair}")
    backend = _backend(args)
    try:
        view = backend.release(args.pair, args.ip, dry_run=args.dry_run)
    finally:
        backend.close()
    out.dump_json(s.LeaseViewSchema().dump(view)) if args.json else _print_lease(view)
    return EXIT_OK
