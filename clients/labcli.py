"""``omapifo lab ...``: build, use and take down the seed's classroom lab."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from omapifo import FailoverPair, Role, lab as _lab
from omapifo.lab import LabError

from .exitcodes import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="the seed's classroom: a real dhcpd failover pair in "
                                   "network namespaces (needs root)")
    lsub = p.add_subparsers(dest="lab_command", required=True, metavar="COMMAND")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--prefix", default=os.environ.get("OMAPIFO_LAB_PREFIX",
                                                          _lab.DEFAULT_PREFIX),
                       help="keeps labs apart; names their namespaces (default "
                       "$OMAPIFO_LAB_PREFIX, else %(default)s)")

    up = lsub.add_parser("up", help="build the lab and wait until both servers are normal")
    common(up)
    up.add_argument("--dir", type=Path, help="where configuration, leases and logs go "
                    "(default /run/omapifo-lab/PREFIX)")
    up.add_argument("--large-pool", action="store_true",
                    help="make client subnet 4 a /18 with one 16,381-address pool")
    up.add_argument("--second-peer", action="store_true",
                    help="a second failover peer (classroom-2: the servers' .252 addresses, "
                    "ports 647/648) between the same two servers, for client subnet 3's "
                    "pool: a second pair")
    up.add_argument("--probe-subnet", action="store_true",
                    help="a probe subnet both servers serve (x.x.9.0/24 of the lab's slot) "
                    "with its relay address on this host, named as the pair's "
                    "probe_giaddr: for `omapifo probe` and `omapifo drill`")
    up.add_argument("--algorithm", default="hmac-md5",
                    choices=["hmac-md5", "hmac-sha256", "hmac-sha512"], help="OMAPI key algorithm")
    up.add_argument("--mclt", type=int, default=60)
    up.add_argument("--timeout", type=float, default=60.0,
                    help="seconds to wait for both servers to reach normal")
    up.set_defaults(func=cmd_up)

    down = lsub.add_parser("down", help="remove everything `up` made (safe to repeat)")
    common(down)
    down.set_defaults(func=cmd_down)

    status = lsub.add_parser("status", help="what is running, and both servers' states")
    common(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    client = lsub.add_parser("client", help="one real DHCP exchange from client subnet N")
    common(client)
    client.add_argument("n", type=int, choices=range(1, _lab.CLIENT_SUBNETS + 1), metavar="N")
    client.add_argument("--mac", help="client hardware address (default: the subnet's own)")
    client.set_defaults(func=cmd_client)

    for name, func, text in (("stop", cmd_stop, "stop one server (SIGTERM to its pid)"),
                             ("start", cmd_start, "start one server again")):
        q = lsub.add_parser(name, help=text)
        common(q)
        q.add_argument("role", choices=["primary", "secondary"])
        if name == "start":
            q.add_argument("--wait", action="store_true",
                           help="return once both servers are normal again")
        q.set_defaults(func=func)


def cmd_up(args: argparse.Namespace) -> int:
    settings = _lab.LabSettings(prefix=args.prefix, large_pool=args.large_pool,
                                second_peer=args.second_peer,
                                probe_subnet=args.probe_subnet,
                                algorithm=args.algorithm, mclt=args.mclt)
    lab = _lab.Lab.create(settings, args.dir)
    try:
        lab.up(timeout=args.timeout)
    except LabError:
        lab.down()
        raise
    print(f"lab {args.prefix} is up: both servers normal")
    print(f"  configuration: {lab.config_path}")
    print(f"  primary   {lab.endpoint(Role.PRIMARY)}   secondary {lab.endpoint(Role.SECONDARY)}")
    print(f"  try: omapifo -c {lab.config_path} status")
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    removed = _lab.down(args.prefix)
    print(f"lab {args.prefix}: " + (", ".join(removed) if removed else "nothing to remove"))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    lab = _lab.Lab.load(args.prefix)
    info = lab.status()
    with FailoverPair(lab.pair_config()) as pair:
        st = pair.state()
    info["failover"] = {str(r): (str(st.peer(r).local_state) if st.peer(r).reachable
                                 else f"unreachable: {st.peer(r).error}") for r in Role}
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    print(f"lab {info['prefix']} in {info['dir']} (slots {info['slots']})")
    for key, proc in info["processes"].items():
        print(f"  {key:<18} pid {proc['pid']:<8} {'running' if proc['running'] else 'stopped'}")
    for role, state in info["failover"].items():
        print(f"  {role:<18} {state}")
    print(f"  configuration      {info['config']}")
    return EXIT_OK


def cmd_client(args: argparse.Namespace) -> int:
    print(_lab.Lab.load(args.prefix).client(args.n, mac=args.mac))
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    _lab.Lab.load(args.prefix).stop(args.role)
    print(f"stopped the {args.role}")
    return EXIT_OK


def cmd_start(args: argparse.Namespace) -> int:
    _lab.Lab.load(args.prefix).start(args.role, wait=args.wait, timeout=180)
    print(f"started the {args.role}" + (": both servers normal" if args.wait else ""))
    return EXIT_OK
