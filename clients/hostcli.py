"""``omapifo host add | show | delete | list | sync``: host reservations on both peers."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omapifo import (ConfigError, HostComparison, HostView, NotFound, OmapifoError, Operation,
                     Role, compare_host_files)
from omapifo.api import schemas as s

from . import output as out
from .backend import api_url
from .exitcodes import EXIT_FAILED, EXIT_OK
from .paircli import _changes, _common, _confirm, _pair

_VIEW = s.HostViewSchema()


def _files_args(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--files", nargs=2, type=Path, metavar=("PRIMARY", "SECONDARY"),
                   help=f"both peers' dhcpd.leases ({what})")
    g.add_argument("--leases-dir", type=Path, metavar="DIR", help="DIR/primary/dhcpd.leases "
                   "and DIR/secondary/dhcpd.leases (copies of both servers' files)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    host = sub.add_parser("host", help="host reservations, made on both peers")
    hsub = host.add_subparsers(dest="host_command", required=True, metavar="COMMAND")

    p = hsub.add_parser("add", help="reserve IP for a client on both peers (asks to confirm)")
    p.add_argument("pair")
    p.add_argument("name")
    p.add_argument("ip")
    p.add_argument("--mac", help="the client's hardware address")
    p.add_argument("--client-id", help="the client's DHCP client identifier (hex bytes)")
    _files_args(p, "their hosts are checked too, as dhcpd cannot find a host by address; "
                "default: the pair's dhcpd_leases and secondary_dhcpd_leases")
    _changes(p)
    p.set_defaults(func=cmd_add)

    p = hsub.add_parser("show", help="a host by NAME, --mac or --ip, as both peers see it")
    p.add_argument("pair")
    p.add_argument("name", nargs="?")
    p.add_argument("--mac")
    p.add_argument("--ip")
    _common(p)
    p.set_defaults(func=cmd_show)

    p = hsub.add_parser("delete", help="remove a host from both peers (asks to confirm)")
    p.add_argument("pair")
    p.add_argument("name")
    _changes(p)
    p.set_defaults(func=cmd_delete)

    p = hsub.add_parser("list", help="the hosts of both peers' dhcpd.leases, compared")
    p.add_argument("pair")
    _files_args(p, "default: the pair's dhcpd_leases and secondary_dhcpd_leases")
    _common(p)
    p.set_defaults(func=cmd_list)

    p = hsub.add_parser("sync", help="copy a host one peer holds to the other (asks to "
                        "confirm); without NAME, every host one file has and the other lacks")
    p.add_argument("pair")
    p.add_argument("name", nargs="?")
    _files_args(p, "to check the address, and to find the hosts to repair when no NAME "
                "is given; default: the pair's dhcpd_leases and secondary_dhcpd_leases")
    _changes(p)
    p.set_defaults(func=cmd_sync)


def _files(args: argparse.Namespace) -> tuple[Path, Path] | None:
    if args.files:
        return args.files[0], args.files[1]
    if args.leases_dir:
        return args.leases_dir / "primary" / "dhcpd.leases", \
            args.leases_dir / "secondary" / "dhcpd.leases"
    return None


def _print(view: HostView) -> None:
    out.say(f"host {view.name}: "
            + ("on both peers, the same" if view.agree else "peers DISAGREE"))
    rows = []
    for role in Role:
        h = view.peer(role)
        if h is None:
            rows.append([str(role), view.errors.get(role, "not there"), "", "", ""])
        else:
            rows.append([str(role), h.name, str(h.ip or "-"), h.mac or "-", h.client_id or "-"])
    out.table(rows, ["PEER", "NAME", "ADDRESS", "MAC", "CLIENT ID"])
    for d in view.differences:
        out.say(f"  differs: {d}")


def _show(args: argparse.Namespace, view: HostView) -> int:
    out.dump_json(_VIEW.dump(view)) if args.json else _print(view)
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    with _pair(args, Operation.ADD_HOST, leases=_files(args)) as pair:
        _confirm(args, f"reservation of {args.ip} for {args.name} on both peers of "
                 f"{args.pair}")
        view = pair.add_host(args.name, ip=args.ip, mac=args.mac, client_id=args.client_id,
                             dry_run=args.dry_run)
    if args.dry_run and not args.json:
        print(f"dry run: {args.name} ({args.ip}) passed every check; nothing was changed")
        return EXIT_OK
    return _show(args, view)


def cmd_show(args: argparse.Namespace) -> int:
    if sum(x is not None for x in (args.name, args.mac, args.ip)) != 1:
        raise ConfigError("give exactly one of NAME, --mac or --ip")
    try:
        with _pair(args, Operation.HOST) as pair:
            view = pair.host(args.name, mac=args.mac, ip=args.ip)
    except NotFound as exc:
        return _not_there(exc)
    return _show(args, view)


def _not_there(exc: NotFound) -> int:
    """Neither peer has the host: dhcpd answered, so exit 1 (not 3, "unreachable")."""
    if exc.peer is not None:
        raise exc  # one peer's own lookup failed (not about the host): as any PeerError
    print(f"omapifo: {exc}", file=sys.stderr)
    return EXIT_FAILED


def cmd_delete(args: argparse.Namespace) -> int:
    try:
        with _pair(args, Operation.DELETE_HOST) as pair:
            _confirm(args, f"removal of host {args.name} from both peers of {args.pair}")
            view = pair.delete_host(args.name, dry_run=args.dry_run)
    except NotFound as exc:
        return _not_there(exc)
    if args.json:
        out.dump_json(_VIEW.dump(view))
    elif args.dry_run:
        print(f"dry run: would delete host {args.name} from every peer that holds it")
    else:
        print(f"host {args.name} deleted from both peers")
    return EXIT_OK


def _comparison(args: argparse.Namespace) -> HostComparison:
    """Both peers' hosts: from --files/--leases-dir (read here), else from the pair's
    dhcpd_leases and secondary_dhcpd_leases (read by the library, or by the service with
    --api)."""
    files = _files(args)
    if files is not None:
        return compare_host_files(*files)
    with _pair(args, Operation.HOSTS) as pair:
        return pair.hosts()


def cmd_list(args: argparse.Namespace) -> int:
    cmp = _comparison(args)
    if args.json:
        out.dump_json({"pair": args.pair, **s.HostListSchema().dump(cmp)})
    else:
        rows = []
        for v in cmp.views:
            h = v.primary or v.secondary
            assert h is not None
            seen = "both" if v.primary and v.secondary else \
                ("primary only" if v.primary else "secondary only")
            rows.append([v.name, str(h.ip or "-"), h.mac or h.client_id or "-", seen,
                         "yes" if v.agree else "NO"])
        out.table(rows, ["HOST", "ADDRESS", "MAC / CLIENT ID", "ON", "AGREE"])
        for v in cmp.differing:
            out.say(f"  {v.name} differs: " + "; ".join(v.differences))
        if cmp.one_sided:
            print(f"\n{len(cmp.one_sided)} host(s) on one peer only: "
                  f"omapifo host sync {args.pair} NAME")
    return EXIT_FAILED if cmp.one_sided or cmp.differing else EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    if args.name is not None:
        names = [args.name]
    else:
        names = [v.name for v in _comparison(args).one_sided]
    if not names:
        print("every host is on both peers; nothing to do")
        return EXIT_OK
    views, failed = [], []
    # straight over OMAPI the files are also what the address is checked against; the
    # service checks against the files its configuration names, so through it they only
    # choose the names above
    leases = None if api_url(args.api) else _files(args)
    with _pair(args, Operation.SYNC_HOST, leases=leases) as pair:
        _confirm(args, f"copy of host(s) {', '.join(names)} to the peer that lacks them in "
                 f"{args.pair}")
        for name in names:  # each on its own: one refused host does not stop the others
            try:
                views.append(pair.sync_host(name, dry_run=args.dry_run))
            except OmapifoError as exc:
                failed.append(name)
                out.say(f"omapifo: host {name}: {exc}", sys.stderr)
    if args.json:
        out.dump_json(_VIEW.dump(views, many=True))
    else:
        for view in views:
            _print(view)
    return EXIT_FAILED if failed else EXIT_OK
