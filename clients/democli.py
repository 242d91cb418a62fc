"""``omapifo demo`` (what ``make demo`` runs): the lab, and the REST service on it.

Starts the seed's classroom lab, adds a [service] section with two fresh tokens to the
lab's omapifo.toml, serves the REST API on 127.0.0.1 and prints curl commands to try.
Ctrl-C (or SIGTERM) stops the service and takes the lab down.
"""
from __future__ import annotations

import argparse
import faulthandler
import secrets
import signal
import time

from omapifo import lab as _lab
from omapifo import load_config

from omapifo.api.auth import digest as token_digest

from . import servecli

STOP_WATCHDOG = 30.0  # seconds before a slow stop dumps every thread's stack to stderr


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="start the lab and the REST service on it until Ctrl-C")
    p.add_argument("--prefix", default="demo")
    p.add_argument("--listen", default="127.0.0.1:8067")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID`: every thread's stack to stderr
    _lab.check_prerequisites()
    lab = _lab.Lab.create(_lab.LabSettings(prefix=args.prefix))
    stop = None
    try:
        print(f"starting the lab ({args.prefix}): a dhcpd failover pair in network namespaces",
              flush=True)
        lab.up()
        reader, operator = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with open(lab.config_path, "a") as fh:
            fh.write(f'\n[service]\nlisten = "{args.listen}"\npoll_interval = 2\n'
                     f'database = "omapifo.sqlite3"\n'
                     f'[[service.tokens]]\nname = "demo-reader"\nrole = "reader"\n'
                     f'sha256 = "{token_digest(reader)}"\n'
                     f'[[service.tokens]]\nname = "demo-operator"\nrole = "operator"\n'
                     f'sha256 = "{token_digest(operator)}"\n')
        config = load_config(lab.config_path)
        url, run, stop = servecli.start(config)
        servecli.run_in_thread(run)
        pair = lab.settings.peer_name
        print(f"""
The pair is up and the REST service listens on {url}. In another shell:

  export R={reader} O={operator} URL={url}
  export OMAPIFO_CONFIG={lab.config_path} OMAPIFO_LAB_PREFIX={args.prefix}
  curl -s -H "Authorization: Bearer $R" {url}/api/v1/pairs/{pair}
  curl -s -H "Authorization: Bearer $R" {url}/api/v1/pairs/{pair}/history
  curl -s {url}/metrics | grep omapifo_peer_local_state
  omapifo lab client 1                 # a real DHCP client gets an address
  omapifo lab stop primary             # then watch the state change
  curl -s -X POST -H "Authorization: Bearer $O" -H 'Content-Type: application/json' \\
       -d '{{"confirm": "{pair}"}}' {url}/api/v1/pairs/{pair}/peers/secondary/partner-down
  omapifo status

API documentation: {url}/api/v1/docs; the runbook: docs/runbook.md
Ctrl-C stops the demo and takes the lab down.
""", flush=True)
        # Not signal.pause(): twice in CI the demo printed nothing after SIGINT and never
        # stopped. pause() only returns for a signal delivered to the main thread (or may
        # miss one that lands just before it starts waiting); with the service's threads
        # about, a sleep that wakes each second to run pending handlers cannot miss it.
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        # Every step below is bounded (OMAPI timeouts, SIGKILL after a grace period); if
        # stopping still takes long, show where it is stuck instead of hanging silently.
        faulthandler.dump_traceback_later(STOP_WATCHDOG)
        try:
            if stop is not None:
                stop()
                print("service stopped", flush=True)
            removed = lab.down()
            print(f"lab {args.prefix} taken down ({len(removed)} items removed)", flush=True)
        finally:
            faulthandler.cancel_dump_traceback_later()
    return 0
