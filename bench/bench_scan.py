"""Pool scan speed, side by side in one run against the same idle lab servers.

    sudo .venv/bin/python bench/bench_scan.py [--rounds 5] [--sample N] [--settle 5]

Starts a lab with a 16,381-address failover pool (``omapifo lab up --large-pool``) and
first waits until the servers are idle: right after ``normal`` the primary is still
handing half of its free addresses to its partner (pool rebalancing, binding updates
that each cost the server a write), and a loop measured then is measured against a busy
server. Idle means: both peers' failover-state objects read ``cur-unacked-updates`` 0 on
every read for ``--settle`` seconds, and two scans of every address in a row found the
same binding states on both peers. Then every method runs interleaved, ``--rounds``
rounds of: a plain loop of pypureomapi ``lookup_by_lease(ip=...)``; the same with 8
pipelined requests in flight (pypureomapi's own parser); omapifo's scan (lean codec,
signatures checked) at windows 8 and 16. Once on one peer (the primary), once on the
pair (the loops run peer after peer, as a script would; omapifo's ``pair.pools()`` scans
both peers at once). Prints the median, the spread (min-max) and the ratios of medians;
``omshell`` once per query runs once, on a small sample. Then the offline counts from
files: omapifo.pools_from_files versus dhcpd-pools on a generated /16 leases file
(numbers must match). Takes the lab down at the end.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import shutil
import subprocess
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pypureomapi

from omapifo import (FailoverPair, LeaseState, Role, lab as labmod, lease_states, leases_from_file,
                     parse_dhcpd_conf, pools_from_files)
# a benchmark measures internals as the tests check them: the general reader the fast one
# replaced has no public name
from omapifo import _leasefile as leasefile


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("inf")


def plain_loop(host: str, key: str, ips: list[str]) -> float:
    """Seconds for one lookup_by_lease after the other (connection made before the clock)."""
    o = pypureomapi.Omapi(host, 7911, b"omapi_key", key.encode(), timeout=5)
    t = time.perf_counter()
    for ip in ips:
        o.lookup_by_lease(ip=ip)
    took = time.perf_counter() - t
    o.close()
    return took


def pypureomapi_windowed(host: str, key: str, ips: list[str], window: int) -> float:
    o = pypureomapi.Omapi(host, 7911, b"omapi_key", key.encode(), timeout=5)
    t = time.perf_counter()
    pending, i = 0, 0
    while i < len(ips) or pending:
        while i < len(ips) and pending < window:
            msg = pypureomapi.OmapiMessage.open(b"lease")
            msg.obj.append((b"ip-address", pypureomapi.pack_ip(ips[i])))
            o.send_message(msg)
            pending, i = pending + 1, i + 1
        o.receive_message()
        pending -= 1
    took = time.perf_counter() - t
    o.close()
    return took


def omshell(host: str, key: str, ips: list[str]) -> float:
    t = time.perf_counter()
    for ip in ips:
        script = (f"server {host}\nport 7911\nkey omapi_key {key}\nconnect\nnew lease\n"
                  f"set ip-address = {ip}\nopen\n")
        subprocess.run(["omshell"], input=script, capture_output=True, text=True, timeout=10,
                       check=True)
    return rate(len(ips), time.perf_counter() - t)


def write_files(d: Path) -> None:
    """A /16 pool's dhcpd.conf and 65,534 lease records in random states, each written the
    way dhcpd 4.4 writes a lease (8.3 MB)."""
    (d / "dhcpd.conf").write_text(
        'failover peer "p" { primary; address 198.18.0.1; port 647; peer address '
        "198.18.0.2; peer port 647; max-response-delay 30; max-unacked-updates 10; "
        "mclt 3600; split 128; }\nsubnet 198.19.0.0 netmask 255.255.0.0 {\n pool {\n"
        '  failover peer "p"; deny dynamic bootp clients;\n'
        "  range 198.19.0.1 198.19.255.254;\n }\n}\n")
    states = ["free", "backup", "active", "expired", "released", "abandoned"]
    rnd = random.Random(7)
    with open(d / "dhcpd.leases", "w") as fh:
        for n in range(1, 65535):
            ip = ipaddress.IPv4Address("198.19.0.0") + n
            # the twelve lines dhcpd 4.4 writes for a lease (db.c write_lease)
            fh.write(f"lease {ip} {{\n  starts 3 2026/11/25 03:00:00;\n"
                     f"  ends 3 2026/11/25 04:00:00;\n  tstp 3 2026/11/25 04:00:00;\n"
                     f"  cltt 3 2026/11/25 03:00:00;\n  binding state {rnd.choice(states)};\n"
                     f"  next binding state free;\n  rewind binding state free;\n"
                     f"  hardware ethernet 02:00:00:00:{n >> 8:02x}:{n & 255:02x};\n"
                     f'  uid "\\001\\002\\000\\000\\000\\000\\001";\n'
                     f'  client-hostname "host{n}";\n}}\n')


def files_benchmark(rounds: int = 7, general: bool = True) -> None:
    """A /16 pool and 65,534 lease records: omapifo's counts versus dhcpd-pools, in
    ``rounds`` interleaved rounds (median and spread); the offline lease list once; the
    general tokenizer once (``general``: it takes about half a minute)."""
    d = Path(tempfile.mkdtemp(prefix="omapifo-bench-"))
    try:
        write_files(d)
        ours_t: list[float] = []
        ref_t: list[float] = []
        for _ in range(rounds):
            t = time.perf_counter()
            ours = pools_from_files(d / "dhcpd.conf", d / "dhcpd.leases").pools[0]
            ours_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            proc = subprocess.run(["dhcpd-pools", "-c", "dhcpd.conf", "-l", "dhcpd.leases",
                                   "-f", "j"], cwd=d, capture_output=True, text=True,
                                  check=True)
            ref_t.append(time.perf_counter() - t)
        ref = json.loads(proc.stdout)["subnets"][0]
        touched = ours.free + ours.expired + ours.released + ours.abandoned
        match = (ours.total, ours.active, touched) == (ref["defined"], ref["used"],
                                                       ref["touched"])
        om, rm = statistics.median(ours_t), statistics.median(ref_t)
        print(f"\noffline counts of a /16 (65,534 records, 8.3 MB), {rounds} interleaved rounds, "
              f"seconds: omapifo pools_from_files median {om:.3f} ({min(ours_t):.3f}-"
              f"{max(ours_t):.3f}), dhcpd-pools (a process, as scripts run it) median {rm:.3f} "
              f"({min(ref_t):.3f}-{max(ref_t):.3f}); ratio of medians {om / rm:.1f}x; counts "
              f"{'MATCH' if match else 'DIFFER'}: defined {ref['defined']}, used "
              f"{ref['used']}, touched {ref['touched']}")
        t = time.perf_counter()
        listed = leases_from_file(d / "dhcpd.leases")
        print(f"offline lease list of the same file (a row object per lease): "
              f"{time.perf_counter() - t:.2f} s, {len(listed.leases):,} rows")
        if general:
            text = (d / "dhcpd.leases").read_text()
            t = time.perf_counter()
            slow = leasefile._read_general(text, str(d / "dhcpd.leases"))  # what it replaced
            general_t = time.perf_counter() - t
            assert slow == leasefile.read_leases(d / "dhcpd.leases")
            print(f"the general tokenizer alone: {general_t:.2f} s, same records")
    finally:
        shutil.rmtree(d)


def wait_idle(pair: FailoverPair, ips: list[ipaddress.IPv4Address], *, settle: float,
              limit: float) -> tuple[float, list[int | None]]:
    """Seconds until the servers are idle (module docstring), and the primary's binding
    states then; RuntimeError after ``limit``."""
    t0 = time.monotonic()
    quiet_since: float | None = None
    last: tuple[list[int | None], list[int | None]] | None = None
    peak = 0
    while time.monotonic() - t0 < limit:
        st = pair.state()
        unacked = [v.status.cur_unacked_updates if v.status else None
                   for v in (st.primary, st.secondary)]
        now = time.monotonic()
        peak = max([peak, *(u for u in unacked if u is not None)])
        if unacked != [0, 0]:
            quiet_since, last = None, None
        elif quiet_since is None:
            quiet_since = now
        if quiet_since is not None and now - quiet_since >= settle:
            views = (lease_states(pair.peer(Role.PRIMARY), ips),
                     lease_states(pair.peer(Role.SECONDARY), ips))
            if views == last:
                print(f"(most cur-unacked-updates seen while waiting: {peak})")
                return time.monotonic() - t0, views[0]
            last = views
            continue
        time.sleep(0.2)
    raise RuntimeError(f"the servers were not idle within {limit:g} s")


def spread(name: str, seconds: list[float], n: int) -> tuple[float, str]:
    rates = sorted(rate(n, s) for s in seconds)
    med = statistics.median(rates)
    return med, f"{name:<30} {med:>9,.0f} {rates[0]:>9,.0f}-{rates[-1]:<9,.0f}"


def report(title: str, times: dict[str, list[float]], n: int) -> None:
    print(f"\n{title}: {n:,} addresses, lookups/s over {len(next(iter(times.values())))} "
          f"interleaved rounds")
    print(f"{'method':<30} {'median':>9} {'min-max':^19} {'vs plain loop':>13}")
    medians = {}
    for name, secs in times.items():
        medians[name], line = spread(name, secs, n)
        print(f"{line} {medians[name] / medians['pypureomapi plain loop']:>12.1f}x")
    print("ratios of medians: window 8 / pypureomapi window 8 = "
          f"{medians['omapifo scan, window 8'] / medians['pypureomapi, window 8']:.1f}x, "
          f"window 16 / window 8 = "
          f"{medians['omapifo scan, window 16'] / medians['omapifo scan, window 8']:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sample", type=int, default=0, help="addresses per method and peer "
                    "(default: every address of the lab's pools)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds of cur-unacked-updates "
                    "0 on both peers before the servers count as idle")
    ap.add_argument("--idle-limit", type=float, default=900.0)
    ap.add_argument("--omshell-sample", type=int, default=100)
    ap.add_argument("--no-files", action="store_true", help="skip the offline counts from "
                    "files (bench/run_all.py runs them on their own)")
    args = ap.parse_args()
    labmod.check_prerequisites()
    lab = labmod.Lab.create(labmod.LabSettings(prefix=f"bench{os.getpid() % 1000}",
                                               large_pool=True))
    try:
        lab.up(timeout=120)
        hosts = [lab.endpoint(role).host for role in Role]
        key = lab.key().secret
        conf = parse_dhcpd_conf(lab.conf_path(Role.PRIMARY))
        all_ips = [ip for p in conf.pools for r in p.ranges for ip in r.addresses()]
        ips = all_ips[: args.sample] if args.sample else all_ips
        texts = [str(ip) for ip in ips]
        version = subprocess.run(["dhcpd", "--version"], capture_output=True, text=True)
        print(f"dhcpd {version.stderr.strip()}, {len(all_ips):,} pool addresses, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
        with FailoverPair(lab.pair_config()) as pair:
            took, idle = wait_idle(pair, all_ips, settle=args.settle, limit=args.idle_limit)
            counts = Counter(idle)
            print(f"idle {took:.0f} s after normal (cur-unacked-updates 0 on both peers for "
                  f"{args.settle:g} s, two scans in a row alike); the primary then saw "
                  f"{counts[LeaseState.FREE]:,} free, {counts[LeaseState.BACKUP]:,} backup, "
                  f"{len(idle) - counts[LeaseState.FREE] - counts[LeaseState.BACKUP]:,} other")
            peer_methods: dict[str, Callable[[], float]] = {
                "pypureomapi plain loop": lambda: plain_loop(hosts[0], key, texts),
                "pypureomapi, window 8": lambda: pypureomapi_windowed(hosts[0], key, texts, 8),
            }
            pair_methods: dict[str, Callable[[], float]] = {
                "pypureomapi plain loop": lambda: sum(plain_loop(h, key, texts) for h in hosts),
                "pypureomapi, window 8": lambda: sum(pypureomapi_windowed(h, key, texts, 8)
                                                     for h in hosts),
            }
            for window in (8, 16):
                def one_peer(window: int = window) -> float:
                    t = time.perf_counter()
                    states = lease_states(pair.peer(Role.PRIMARY), ips, window=window)
                    took = time.perf_counter() - t
                    assert all(s is not None for s in states)
                    return took

                def both(window: int = window) -> float:
                    t = time.perf_counter()
                    rep = pair.pools(window=window)
                    took = time.perf_counter() - t
                    assert rep.complete and sum(p.total for p in rep.pools) == len(all_ips)
                    return took

                peer_methods[f"omapifo scan, window {window}"] = one_peer
                pair_methods[f"omapifo scan, window {window}"] = both
            if args.sample:  # pair.pools() scans every pool: no pair figures for a sample
                pair_methods = {}
            peer_times: dict[str, list[float]] = {k: [] for k in peer_methods}
            pair_times: dict[str, list[float]] = {k: [] for k in pair_methods}
            for _ in range(args.rounds):
                for name, fn in peer_methods.items():
                    peer_times[name].append(fn())
                for name, fn in pair_methods.items():
                    pair_times[name].append(fn())
            st = pair.state()
        report("one peer (the primary)", peer_times, len(ips))
        if not args.sample:
            report("the pair (both peers; lookups/s over both)",
                   {k: [t / 2 for t in v] for k, v in pair_times.items()}, len(ips))
        om = omshell(hosts[0], key, texts[: args.omshell_sample])
        print(f"\nomshell, one process per query ({args.omshell_sample} queries, once): "
              f"{om:.0f}/s")
        print(f"after the scans: primary {st.primary.local_state}, secondary "
              f"{st.secondary.local_state}; load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)  # a benchmark's lab keeps no post-mortem
    if not args.no_files:
        files_benchmark()
    return 0


if __name__ == "__main__":
    sys.exit(main())
