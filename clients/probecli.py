"""``omapifo probe PAIR``: does each server of the pair answer a DHCP client?

A relayed DHCPDISCOVER to each server from the pair's probe_giaddr (docs/probes.md), never
a DHCPREQUEST. Exit 0 when every server probed answered, 1 when one did not (a filter on
port 67 and a stopped dhcpd look alike from here: the text says no answer, not down).
"""
from __future__ import annotations

import argparse

from omapifo import Operation, PairProbe, Role
from omapifo.api import schemas as s

from . import output as out
from .exitcodes import EXIT_FAILED, EXIT_OK
from .paircli import _common, _pair

_PROBE = s.PairProbeSchema()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="send each server a relayed DHCPDISCOVER: does it answer "
                       "a client? (never a DHCPREQUEST)")
    p.add_argument("pair")
    p.add_argument("--peer", choices=[str(r) for r in Role], help="only this server "
                   "(default both)")
    p.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                   help="wait this long for the OFFERs (default 3; dhcpd pings the address "
                   "first, about 1 s)")
    _common(p)
    p.set_defaults(func=cmd_probe)


def _print(found: PairProbe) -> None:
    rows = []
    for r in found.results:
        if r.answered:
            rows.append([str(r.role), r.server, "yes", r.offered or "-", r.pool or "-",
                         f"{(r.latency or 0) * 1000:.0f} ms"])
        else:
            rows.append([str(r.role), r.server, "NO", "-", "-", r.error or "no answer"])
    out.table(rows, ["PEER", "SERVER", "ANSWERED", "OFFERED", "POOL", "LATENCY"])
    out.say(f"from {found.giaddr}, secs {found.secs}, timeout {found.timeout:g} s; "
            "nothing was requested, no address is bound")


def cmd_probe(args: argparse.Namespace) -> int:
    roles = [Role.parse(args.peer)] if args.peer else list(Role)
    with _pair(args, Operation.PROBE) as pair:
        found = pair.probe(roles, timeout=args.timeout)
    out.dump_json(_PROBE.dump(found)) if args.json else _print(found)
    return EXIT_OK if all(r.answered for r in found.results) else EXIT_FAILED
