"""``omapifo demo``: start the lab and show the pair (``make demo``). Ctrl-C takes it down."""
from __future__ import annotations

import argparse
import signal
import time

from omapifo import FailoverPair
from omapifo import lab as _lab


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="start the lab and run omapifo against it until Ctrl-C")
    p.add_argument("--prefix", default="demo")
    p.add_argument("--interval", type=float, default=5.0)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    # SIGTERM too, so that a demo stopped by its supervisor also takes the lab down
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    _lab.check_prerequisites()
    lab = _lab.Lab.create(_lab.LabSettings(prefix=args.prefix))
    try:
        print(f"starting the lab ({args.prefix}): a dhcpd failover pair in network namespaces")
        lab.up()
        cfg = lab.config_path
        print(f"\nthe pair is up; its configuration is {cfg}. In another shell try:")
        print(f"  omapifo -c {cfg} lab client 1 --prefix {args.prefix}")
        print(f"  omapifo -c {cfg} lab stop primary --prefix {args.prefix}\n")
        print("Ctrl-C stops the demo and takes the lab down.\n")
        with FailoverPair(lab.pair_config()) as pair:
            while True:
                st = pair.state()
                print(f"{st.read_at:%H:%M:%S}  primary {st.primary.local_state or 'unreachable'}"
                      f"  secondary {st.secondary.local_state or 'unreachable'}  {st.health.level}",
                      flush=True)
                time.sleep(args.interval)
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        removed = lab.down()
        print(f"lab {args.prefix} taken down ({len(removed)} items removed)")
    return 0
