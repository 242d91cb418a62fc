"""Lease list speed: a live list of the lab's large pool versus the counts-only scan.

    sudo .venv/bin/python bench/bench_leases.py [--rounds 5] [--settle 5]

Starts a lab with a 16,381-address failover pool (``omapifo lab up --large-pool``; 16,477
pool addresses in all), waits until the servers are idle (bench_scan.wait_idle: right
after ``normal`` the primary is still handing half its free addresses to its partner),
then runs interleaved rounds of, on both peers at once: ``pair.pools()`` (counts only:
the binding state of every address) and ``pair.leases()`` (the whole list: state,
hardware address, hostname, starts, ends and cltt of every address, merged into one row
per address). Prints the median and spread (min-max) of each, and the ratio of the
medians. Then the offline counts from files versus dhcpd-pools (bench_scan.files_benchmark).
Takes the lab down at the end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

from bench_scan import files_benchmark, wait_idle

from omapifo import FailoverPair, Role, lab as labmod, parse_dhcpd_conf


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--idle-limit", type=float, default=900.0)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--no-files", action="store_true")
    args = ap.parse_args()
    labmod.check_prerequisites()
    lab = labmod.Lab.create(labmod.LabSettings(prefix=f"benchl{os.getpid() % 1000}",
                                               large_pool=True))
    try:
        lab.up(timeout=120)
        conf = parse_dhcpd_conf(lab.conf_path(Role.PRIMARY))
        ips = [ip for p in conf.pools for r in p.ranges for ip in r.addresses()]
        version = subprocess.run(["dhcpd", "--version"], capture_output=True, text=True)
        print(f"dhcpd {version.stderr.strip()}, {len(ips):,} pool addresses, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
        with FailoverPair(lab.pair_config()) as pair:
            took, _ = wait_idle(pair, ips, settle=args.settle, limit=args.idle_limit)
            print(f"idle {took:.0f} s after normal")
            counts: list[float] = []
            lists: list[float] = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                rep = pair.pools(window=args.window)
                counts.append(time.perf_counter() - t)
                assert rep.complete and sum(p.total for p in rep.pools) == len(ips)
                t = time.perf_counter()
                listed = pair.leases(window=args.window)
                lists.append(time.perf_counter() - t)
                assert listed.complete and len(listed.leases) == len(ips)
            st = pair.state()
        cm, lm = statistics.median(counts), statistics.median(lists)
        print(f"\nboth peers, {len(ips):,} addresses, window {args.window}, {args.rounds} "
              "interleaved rounds, seconds:")
        print(f"  pair.pools()  (counts only) median {cm:.2f}  ({min(counts):.2f}-"
              f"{max(counts):.2f})  {len(ips) / cm:,.0f} addresses/s")
        print(f"  pair.leases() (whole list)  median {lm:.2f}  ({min(lists):.2f}-"
              f"{max(lists):.2f})  {len(ips) / lm:,.0f} addresses/s")
        print(f"  ratio of medians, list / counts: {lm / cm:.2f}x; at this rate a /16 "
              f"(65,534 addresses) lists in {65534 / (len(ips) / lm):.1f} s")
        print(f"after the rounds: primary {st.primary.local_state}, secondary "
              f"{st.secondary.local_state}; load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)
    if not args.no_files:
        files_benchmark(general=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
