"""Soak: 50 configured pairs polled every 5 s for 10 minutes while clients read the API.

    sudo .venv/bin/python bench/bench_soak.py [--pairs 50] [--minutes 10] [--interval 5]

One lab pair configured 50 times (built as PairConfig objects: a configuration file
refuses the same server twice). The service runs in this process under waitress; wrk
(-t2 -c16) reads GET /api/v1/pairs/{pair} in one-minute rounds. Printed per minute: the
p99 of GET, the RSS of the process, and the polls done versus expected; at the end,
missed polls beyond coalescing (expected - done - pairs, the first round's start-up).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from bench_api import wrk  # type: ignore[import-not-found]  # noqa: E402

from omapifo import Config, ServiceConfig, TokenConfig
from omapifo import lab as labmod
from omapifo.clients import servecli


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    # waitress warns on every request queued behind its 8 threads: expected under wrk
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--interval", type=float, default=5.0)
    args = ap.parse_args()
    labmod.check_prerequisites()
    lab = labmod.Lab.create(labmod.LabSettings(prefix=f"soak{os.getpid() % 1000}"))
    token = "soak-reader-token"
    try:
        lab.up()
        base = lab.pair_config()
        pairs = {f"pair-{i:02d}": dataclasses.replace(base, name=f"pair-{i:02d}",
                                                      failover_peer=base.failover_peer)
                 for i in range(args.pairs)}
        db = Path(tempfile.mkdtemp(prefix="omapifo-soak-")) / "soak.sqlite3"
        svc = ServiceConfig(listen="127.0.0.1:18068", poll_interval=args.interval,
                            pool_interval=86400, database=db, tokens=(TokenConfig(
                                "soak", "reader", hashlib.sha256(token.encode()).hexdigest()),))
        url, run, stop = servecli.start(Config(pairs=pairs, service=svc))
        servecli.run_in_thread(run)
        start = time.monotonic()
        print(f"{args.pairs} pairs every {args.interval:g} s, {args.minutes} min; "
              f"RSS at start {rss_mib():.1f} MiB")
        print(f"{'minute':>6} {'GET req/s':>10} {'p99 ms':>8} {'RSS MiB':>8} {'polls':>7} "
              f"{'expected':>9}")
        for minute in range(1, args.minutes + 1):
            r = wrk(f"{url}/api/v1/pairs/pair-00", 60,
                    headers={"Authorization": f"Bearer {token}"})
            elapsed = time.monotonic() - start
            expected = int(elapsed / args.interval) * args.pairs
            polls = requests.get(f"{url}/healthz", timeout=10).json()["polls"]
            print(f"{minute:>6} {r['rps']:>10.0f} {r['p99']:>8.2f} {rss_mib():>8.1f} "
                  f"{polls:>7} {expected:>9}", flush=True)
        missed = max(0, expected - polls - args.pairs)
        print(f"missed polls beyond coalescing: {missed}")
        stop()
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)  # a benchmark's lab keeps no post-mortem
    return 0


if __name__ == "__main__":
    sys.exit(main())
