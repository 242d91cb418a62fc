"""``omapifo status | partner-down | shutdown | history | lease ...``."""
from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime

from omapifo import (ConfigError, LeaseView, OmapifoError, Operation, OperationRefused, Pair,
                     PairState, Role, require)
from omapifo.api import schemas as s

from . import output as out
from .backend import Backend, Files, open_backend
from .exitcodes import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE

_STATE = s.PairStateSchema()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", metavar="URL", help="go through the REST service instead of OMAPI "
                   "(default $OMAPIFO_API_URL; --api '' goes straight over OMAPI)")
    # also before the command (omapifo --token-file FILE status): SUPPRESS keeps this
    # subparser's default from overwriting the global option's value
    p.add_argument("--token-file", metavar="FILE", default=argparse.SUPPRESS,
                   help="the service's token for --api (default $OMAPIFO_TOKEN_FILE, or the "
                   "token in $OMAPIFO_TOKEN)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _changes(p: argparse.ArgumentParser) -> None:
    """The options of a subcommand that changes something: it can be a dry run, asks to
    confirm unless --yes, and only it takes --audit-log."""
    p.add_argument("--dry-run", action="store_true", help="check everything, change nothing")
    p.add_argument("--yes", action="store_true", help="do not ask to type the pair's name")
    _common(p)
    p.add_argument("--audit-log", help="where direct changes are audited (default "
                   "~/.local/state/omapifo/audit.log, or OMAPIFO_AUDIT_LOG)")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="both peers' failover state and the pair's health")
    p.add_argument("pair", nargs="?", help="one pair (default: every configured pair)")
    p.add_argument("--watch", nargs="?", const=WATCH_DEFAULT, type=watch_interval,
                   metavar="SECONDS", help=f"read and redraw every SECONDS (default "
                   f"{WATCH_DEFAULT:g}, {WATCH_MIN:g} to {WATCH_MAX:g}) until Ctrl-C; not on a "
                   "terminal, one block per read")
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
        _changes(p)
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
    _changes(rel)
    rel.set_defaults(func=cmd_lease_release)


def _backend(args: argparse.Namespace) -> Backend:
    # read-only subcommands have no --audit-log: they audit nothing
    return open_backend(args.config, args.api, getattr(args, "audit_log", None),
                        token_file=args.token_file)


@contextlib.contextmanager
def _pair(args: argparse.Namespace, operation: Operation, *,
          leases: Files | None = None) -> Iterator[Pair]:
    """The command's pair (``args.pair``) from its backend, closed after; Unsupported
    first, before anybody is asked to confirm, when the pair cannot do ``operation``."""
    backend = _backend(args)
    try:
        pair = backend.pair(args.pair, leases=leases)
        require(pair, operation)
        yield pair
    finally:
        backend.close()


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


def _read_states(backend: Backend, pair: str | None) -> list[PairState]:
    return [backend.pair(pair).state()] if pair else backend.states()


def _print_states(states: list[PairState]) -> None:
    out.table([r for st in states for r in _peer_rows(st)], PEER_HEADER)
    for st in states:
        print(f"\n{st.pair}: {out.colour(str(st.health.level))}")
        for reason in st.health.reasons:
            out.say(f"  - {reason}")


def cmd_status(args: argparse.Namespace) -> int:
    if args.watch is not None:
        if args.json:
            raise ConfigError("--watch redraws for a person; it does not go with --json (a "
                              "script reads --json once a run, or the service's /metrics)")
        return watch_status(args)
    backend = _backend(args)
    try:
        states = _read_states(backend, args.pair)
    finally:
        backend.close()
    if args.json:
        out.dump_json(_STATE.dump(states[0]) if args.pair else _STATE.dump(states, many=True))
    else:
        _print_states(states)
    if any(not st.peer(r).reachable for st in states for r in Role):
        return EXIT_UNREACHABLE
    return EXIT_OK if all(st.health.ok for st in states) else EXIT_FAILED


# `status --watch`: as watch(1) runs a command again, without its process per read (one
# OMAPI connection per peer, kept open). Below 1 s a person reads nothing more and each
# read costs both dhcpd an OMAPI lookup (or the service a request); above an hour it is not
# watching.
WATCH_DEFAULT, WATCH_MIN, WATCH_MAX = 2.0, 1.0, 3600.0
CLEAR_SCREEN = "\033[H\033[2J"  # cursor home, erase the screen (ECMA-48 CUP, ED 2)


def watch_interval(text: str) -> float:
    """``--watch SECONDS``, from WATCH_MIN to WATCH_MAX."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds (a pair goes before it: omapifo status "
            "PAIR --watch)") from None
    if not WATCH_MIN <= seconds <= WATCH_MAX:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text}: from {WATCH_MIN:g} to {WATCH_MAX:g} seconds")
    return seconds


class _Frame(io.StringIO):
    """One redraw, written to the terminal at once (no half-drawn screen); it answers
    isatty() as the terminal does, so the states keep their colours."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def watch_status(args: argparse.Namespace) -> int:
    """Read and show the pair(s) every ``args.watch`` seconds until Ctrl-C (exit 0). On a
    terminal each read redraws the screen; elsewhere (a pipe, a log) each is a block of its
    own. A failure to read is shown in place of the states and the next read tried again;
    only the first read's failure ends it (a wrong pair name, a refused token)."""
    tty = sys.stdout.isatty()
    backend = _backend(args)
    what = f"omapifo status {args.pair or ''}".rstrip()
    first = True
    try:
        while True:
            started = time.monotonic()
            frame = _Frame(tty)
            try:
                states = _read_states(backend, args.pair)
            except OmapifoError as exc:
                if first:
                    raise
                states, error = [], exc
            else:
                error = None
            first = False
            with contextlib.redirect_stdout(frame):
                stamp = datetime.now().astimezone().strftime("%H:%M:%S")
                print(f"{what}: every {args.watch:g} s, read at {stamp}"
                      + (" (Ctrl-C ends)" if tty else ""))
                print()
                if error is not None:
                    out.say(f"omapifo: {error} (trying again in {args.watch:g} s)")
                else:
                    _print_states(states)
            sys.stdout.write((CLEAR_SCREEN if tty else "") + frame.getvalue()
                             + ("" if tty else "\n"))
            sys.stdout.flush()
            time.sleep(max(0.0, args.watch - (time.monotonic() - started)))
    except KeyboardInterrupt:
        # Ctrl-C is how a watch ends, so from here on another one changes nothing:
        # timeout(1) without --foreground signals the command and then its process group,
        # and on a loaded machine the second SIGINT landed while we closed (exit 130 once,
        # docs/cli.md's example in CI)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if tty:
            print()  # the shell's prompt on a line of its own, after the "^C"
        return EXIT_OK
    finally:
        with contextlib.suppress(KeyboardInterrupt):  # one that came before SIG_IGN took
            backend.close()


def cmd_action(args: argparse.Namespace) -> int:
    # --force without --reason is refused by the library, which records the refusal
    with _pair(args, Operation(args.action)) as pair:
        _confirm(args, f"{args.action} of the {args.peer} of {args.pair}")
        method = pair.partner_down if args.action == "partner-down" else pair.shutdown
        result = method(args.peer, force=args.force, reason=args.reason, dry_run=args.dry_run)
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
    if args.leases is not None:
        backend = _backend(args)
        try:
            report = backend.pools_from_file(args.pair, args.leases)
        finally:
            backend.close()
    else:
        with _pair(args, Operation.POOLS) as pair:
            report = pair.pools(progress=progress)
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
    with _pair(args, Operation.LEASE) as pair:
        view = pair.lease(args.ip, mac=args.mac, client_id=args.client_id)
    out.dump_json(s.LeaseViewSchema().dump(view)) if args.json else _print_lease(view)
    return EXIT_OK


def cmd_lease_release(args: argparse.Namespace) -> int:
    with _pair(args, Operation.RELEASE) as pair:
        _confirm(args, f"release of {args.ip} in {args.pair}")
        view = pair.release(args.ip, dry_run=args.dry_run)
    out.dump_json(s.LeaseViewSchema().dump(view)) if args.json else _print_lease(view)
    return EXIT_OK
