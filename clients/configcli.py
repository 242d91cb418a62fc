"""``omapifo config check PRIMARY SECONDARY`` and ``omapifo doctor PAIR``."""
from __future__ import annotations

import argparse
from dataclasses import asdict


from omapifo import Level, load_config, open_pair
from omapifo.confcheck import check_pair, worst
from omapifo.doctor import diagnose

from . import output as out
from .backend import open_backend
from .exitcodes import EXIT_FAILED, EXIT_OK, config_check


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check dhcpd configurations")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    chk = csub.add_parser("check", help="check a failover pair's two dhcpd.conf files against "
                          "each other; exit 0 clean, 1 warnings, 2 critical findings")
    chk.add_argument("primary_conf")
    chk.add_argument("secondary_conf")
    chk.add_argument("--json", action="store_true")
    chk.add_argument("--no-dhcpd", action="store_true", help="do not run dhcpd -t")
    chk.set_defaults(func=cmd_check)

    doc = sub.add_parser("doctor", help="configuration and live pair, and the next step")
    doc.add_argument("pair")
    doc.add_argument("--no-scan", action="store_true", help="skip the pool scan")
    doc.add_argument("--api", metavar="URL", help="also show the service's last transitions "
                     "(token in OMAPIFO_TOKEN)")
    doc.set_defaults(func=cmd_doctor)


def cmd_check(args: argparse.Namespace) -> int:
    findings = check_pair(args.primary_conf, args.secondary_conf, run_dhcpd=not args.no_dhcpd)
    if args.json:
        out.dump_json([{**asdict(f), "severity": str(f.severity)} for f in findings])
    elif not findings:
        print("clean: no findings")
    else:
        for f in findings:
            print(f"{f.where}: {out.colour(str(f.severity))} {f.code} {f.message}\n"
                  f"    fix: {f.hint}")
    return config_check(findings)


def cmd_doctor(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_pair(config, args.pair) as pair:
        rep = diagnose(pair, scan=not args.no_scan)
    print(f"doctor: {rep.pair}\n\nconfiguration:")
    for f in rep.findings:
        print(f"  {f.where}: {f.severity} {f.code} {f.message}")
    if not rep.findings:
        print("  no findings" if not rep.notes else "", end="\n" if not rep.notes else "")
    for n in rep.notes:
        print(f"  note: {n}")
    print("\nlive:")
    for line in rep.live:
        print(f"  {line}")
    if rep.pools:
        print("\npools:")
        for line in rep.pools:
            print(f"  {line}")
    if args.api:  # what `omapifo serve` recorded, asked over its API (never its database)
        backend = open_backend(None, args.api, None)
        try:
            hist = backend.history(args.pair, 5)
        finally:
            backend.close()
        print("\nlast transitions (from the service's history):")
        for t in hist["transitions"]:
            print(f"  {out.age(t['at']).replace('since ', '')}  {t['peer']} {t['field']}: "
                  f"{t['from']} -> {t['to']}")
    print(f"\nnext step: {rep.next_step}")
    assert rep.state is not None
    healthy = rep.state.health.ok and worst(rep.findings) < Level.CRITICAL
    return EXIT_OK if healthy else EXIT_FAILED


