"""``omapifo config check PRIMARY SECONDARY`` and ``omapifo doctor PAIR``."""
from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from omapifo import (DoctorReport, Finding, Level, check_pair, diagnose, load_config, open_pair,
                     worst_severity)
from omapifo.api.schemas.pairs import PairStateSchema

from . import output as out
from .backend import TOKEN_SOURCES, api_url, open_backend
from .exitcodes import EXIT_FAILED, EXIT_OK, config_check


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check dhcpd configurations")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    chk = csub.add_parser("check", help="check a failover pair's two dhcpd.conf files against "
                          "each other; exit 0 clean, 1 warnings, 2 critical findings")
    chk.add_argument("primary_conf")
    chk.add_argument("secondary_conf")
    chk.add_argument("--json", action="store_true", help="machine-readable output")
    chk.add_argument("--no-dhcpd", action="store_true", help="do not run dhcpd -t")
    chk.set_defaults(func=cmd_check)

    doc = sub.add_parser("doctor", help="configuration and live pair, and the next step")
    doc.add_argument("pair")
    doc.add_argument("--no-scan", action="store_true", help="skip the pool scan")
    doc.add_argument("--api", metavar="URL", help="also show the service's last transitions "
                     f"(token: {TOKEN_SOURCES})")
    doc.add_argument("--json", action="store_true", help="the report as JSON: findings, "
                     "notes, state (the REST service's shape), live, pools, next_step")
    doc.set_defaults(func=cmd_doctor)


def finding_json(f: Finding) -> dict[str, Any]:
    return {**asdict(f), "severity": str(f.severity)}


def doctor_json(rep: DoctorReport) -> dict[str, Any]:
    """A DoctorReport as JSON: the findings as ``config check --json`` prints them, the
    state through the REST service's PairStateSchema, the rest as the lines it printed."""
    return {
        "pair": rep.pair,
        "findings": [finding_json(f) for f in rep.findings],
        "notes": list(rep.notes),
        "state": PairStateSchema().dump(rep.state) if rep.state is not None else None,
        "live": list(rep.live),
        "pools": list(rep.pools),
        "next_step": rep.next_step,
    }


def cmd_check(args: argparse.Namespace) -> int:
    findings = check_pair(args.primary_conf, args.secondary_conf, run_dhcpd=not args.no_dhcpd)
    if args.json:
        out.dump_json([finding_json(f) for f in findings])
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
    assert rep.state is not None
    healthy = rep.state.health.ok and worst_severity(rep.findings) < Level.CRITICAL
    api = api_url(args.api)  # --api, else $OMAPIFO_API_URL
    hist = _history(api, args.pair, args.token_file) if api else None
    if args.json:
        doc = doctor_json(rep)
        if hist is not None:
            doc["transitions"] = hist["transitions"]
        out.dump_json(doc)
        return EXIT_OK if healthy else EXIT_FAILED
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
    if hist is not None:
        print("\nlast transitions (from the service's history):")
        for t in hist["transitions"]:
            print(f"  {out.age(t['at']).replace('since ', '')}  {t['peer']} {t['field']}: "
                  f"{t['from']} -> {t['to']}")
    print(f"\nnext step: {rep.next_step}")
    return EXIT_OK if healthy else EXIT_FAILED


def _history(api: str, pair: str, token_file: str | None) -> dict[str, Any]:
    """What `omapifo serve` recorded, asked over its API (never its database)."""
    backend = open_backend(None, api, None, token_file=token_file)
    try:
        return backend.history(pair, 5)
    finally:
        backend.close()


