"""``omapifo lease list | find``: lease lists and search (omapifo/_leaselist.py renders here).

Added to paircli's ``lease`` command (``show``, ``release``) as two more subcommands.
"""
from __future__ import annotations

import argparse
import csv
import sys
from datetime import datetime

from omapifo import LeaseEntry, LeaseState, Operation, csv_cell
from omapifo.api import schemas as s

from . import output as out
from .backend import TOKEN_SOURCES, open_backend
from .exitcodes import EXIT_FAILED, EXIT_OK
from .paircli import _pair

VIA_SERVICE = f"go through the REST service (token: {TOKEN_SOURCES}) instead of OMAPI"

CSV_FIELDS = ["ip", "state", "hardware_address", "client_hostname", "starts", "ends",
              "served_by", "primary_state", "secondary_state"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``list`` and ``find`` under the ``lease`` command paircli made."""
    lease = sub.choices["lease"]
    lsub = next(a for a in lease._actions if isinstance(a, argparse._SubParsersAction))
    p = lsub.add_parser("list", help="the pair's leases, one row per address (live scan "
                        "of both peers, or --leases FILE offline)")
    p.add_argument("pair")
    p.add_argument("--subnet", metavar="NET", help="only addresses in NET (198.18.11.0/24)")
    p.add_argument("--state", choices=[str(st) for st in LeaseState],
                   help="only leases in this binding state (the pair's)")
    p.add_argument("--hostname", metavar="PATTERN", help="client hostname or shell pattern "
                   "such as 'lab-*' (case-blind)")
    p.add_argument("--leases", metavar="FILE", help="read this dhcpd.leases instead of "
                   "scanning over OMAPI")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable output")
    fmt.add_argument("--csv", action="store_true", help="comma-separated, with a header")
    p.add_argument("--api", metavar="URL", help=VIA_SERVICE)
    p.set_defaults(func=cmd_list)

    p = lsub.add_parser("find", help="which pair, peer and state hold a MAC, IP or hostname, "
                        "across every configured pair")
    p.add_argument("query", metavar="MAC|IP|HOSTNAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--api", metavar="URL", help=VIA_SERVICE)
    p.set_defaults(func=cmd_find)


def _utc(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _peers(e: LeaseEntry) -> str:
    if e.primary_state is None and e.secondary_state is None:
        return "-"  # one server's file: no peers' view
    if e.disagree:
        return f"DISAGREE (primary {e.primary_state}, secondary {e.secondary_state})"
    return "agree" if e.primary_state and e.secondary_state else \
        f"only the {'primary' if e.primary_state else 'secondary'}"


def _progress(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    if not sys.stderr.isatty() or args.json or getattr(args, "csv", False):
        return None

    def progress(done: int, total: int) -> None:
        print(f"\rscanning {done}/{total}", end="" if done < total else "\n",
              file=sys.stderr, flush=True)
    return progress


def cmd_list(args: argparse.Namespace) -> int:
    if args.leases is not None:
        backend = open_backend(args.config, args.api, None, token_file=args.token_file)
        try:
            found = backend.leases_from_file(args.pair, args.leases, subnet=args.subnet,
                                             state=args.state, hostname=args.hostname)
        finally:
            backend.close()
    else:
        with _pair(args, Operation.LEASES) as pair:
            found = pair.leases(args.subnet, args.state, args.hostname,
                                progress=_progress(args))
    if args.json:
        out.dump_json(s.LeaseListSchema().dump(found))
        return EXIT_OK
    if args.csv:
        # every cell through csv_cell: a client's host-name "=HYPERLINK(...)" is no
        # formula in a spreadsheet, and no control character reaches a terminal raw
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(CSV_FIELDS)
        for e in found.leases:
            w.writerow([csv_cell(str(c)) for c in (
                e.ip, e.state or "", e.hardware_address or "", e.client_hostname or "",
                e.starts.isoformat() if e.starts else "", e.ends.isoformat() if e.ends else "",
                e.served_by or "", e.primary_state or "", e.secondary_state or "")])
        return EXIT_OK
    rows = [[str(e.ip), str(e.state or "unknown"), e.hardware_address or "-",
             e.client_hostname or "-", _utc(e.starts), _utc(e.ends),
             str(e.served_by or "-"), _peers(e)] for e in found.leases]
    out.table(rows, ["IP", "STATE", "MAC", "HOSTNAME", "STARTS (UTC)", "ENDS (UTC)",
                     "SERVED BY", "PEERS"])
    print(f"\n{len(rows)} leases, {found.source} ({found.duration:.2f} s)")
    for role, err in found.errors.items():
        out.say(f"  the {role} could not be scanned ({err}): rows are the other peer's view")
    return EXIT_OK


def cmd_find(args: argparse.Namespace) -> int:
    backend = open_backend(args.config, args.api, None, token_file=args.token_file)
    try:
        search = backend.find_leases(args.query)
    finally:
        backend.close()
    if args.json:
        out.dump_json(s.LeaseSearchSchema().dump(search))
    else:
        rows = [[m.pair, str(m.lease.ip), str(m.lease.state or "unknown"),
                 str(m.lease.served_by or "-"), str(m.lease.primary_state or "-"),
                 str(m.lease.secondary_state or "-"), m.lease.hardware_address or "-",
                 m.lease.client_hostname or "-", _utc(m.lease.ends)]
                for m in search.matches]
        if rows:
            out.table(rows, ["PAIR", "IP", "STATE", "SERVED BY", "PRIMARY", "SECONDARY",
                             "MAC", "HOSTNAME", "ENDS (UTC)"])
        else:
            out.say(f"no lease for {search.query} ({search.kind}) in any pair")
        for pair, err in search.errors.items():
            out.say(f"  pair {pair} could not be searched: {err}", sys.stderr)
    return EXIT_OK if search.matches else EXIT_FAILED
