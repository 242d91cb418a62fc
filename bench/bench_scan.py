"""Pool scan speed, side by side in one run against the same lab server.

    sudo .venv/bin/python bench/bench_scan.py [--sample 3000]

Starts a lab with a 16,381-address failover pool (``omapifo lab up --large-pool``), then
against the primary measures: a plain loop of pypureomapi ``lookup_by_lease(ip=...)``; the
same with a bounded window of pipelined requests (pypureomapi's own parser); ``omshell``
run once per query, as monitoring scripts use it; and omapifo's scan (lean codec,
signatures checked) over the whole pool at windows 8 and 16. Prints rates and ratios,
then the offline counts from files: omapifo.pools_from_files versus dhcpd-pools on a
generated /16 leases file (numbers must match). Takes the lab down at the end.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pypureomapi

from omapifo import FailoverPair, Role, pools_from_files
from omapifo import lab as labmod
from omapifo import leasefile
from omapifo.dhcpdconf import parse_file
from omapifo.scan import lease_states


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("inf")


def plain_loop(host: str, key: str, ips: list[str]) -> float:
    o = pypureomapi.Omapi(host, 7911, b"omapi_key", key.encode(), timeout=5)
    t = time.perf_counter()
    for ip in ips:
        o.lookup_by_lease(ip=ip)
    took = time.perf_counter() - t
    o.close()
    return rate(len(ips), took)


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
    return rate(len(ips), took)


def omshell(host: str, key: str, ips: list[str]) -> float:
    t = time.perf_counter()
    for ip in ips:
        script = (f"server {host}\nport 7911\nkey omapi_key {key}\nconnect\nnew lease\n"
                  f"set ip-address = {ip}\nopen\n")
        subprocess.run(["omshell"], input=script, capture_output=True, text=True, timeout=10,
                       check=True)
    return rate(len(ips), time.perf_counter() - t)


def files_benchmark() -> None:
    """A /16 pool and 65,534 lease records: omapifo's reader versus dhcpd-pools."""
    d = Path(tempfile.mkdtemp(prefix="omapifo-bench-"))
    try:
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
        t = time.perf_counter()
        ours = pools_from_files(d / "dhcpd.conf", d / "dhcpd.leases").pools[0]
        ours_t = time.perf_counter() - t
        t = time.perf_counter()
        proc = subprocess.run(["dhcpd-pools", "-c", "dhcpd.conf", "-l", "dhcpd.leases", "-f",
                               "j"], cwd=d, capture_output=True, text=True, check=True)
        ref_t = time.perf_counter() - t
        ref = json.loads(proc.stdout)["subnets"][0]
        touched = ours.free + ours.expired + ours.released + ours.abandoned
        match = (ours.total, ours.active, touched) == (ref["defined"], ref["used"],
                                                       ref["touched"])
        text = (d / "dhcpd.leases").read_text()
        t = time.perf_counter()
        general = leasefile._read_general(text, str(d / "dhcpd.leases"))  # what it replaced
        general_t = time.perf_counter() - t
        assert general == leasefile.read_leases(d / "dhcpd.leases")
        print(f"\noffline /16 (65,534 addresses): omapifo {ours_t:.2f} s, dhcpd-pools "
              f"{ref_t:.2f} s (ratio {ours_t / ref_t:.1f}x slower); counts "
              f"{'MATCH' if match else 'DIFFER'}: defined {ref['defined']}, used "
              f"{ref['used']}, touched {ref['touched']}")
        print(f"the general tokenizer alone: {general_t:.2f} s "
              f"({general_t / ours_t:.1f}x the fast reader), same records")
    finally:
        shutil.rmtree(d)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=3000, help="addresses for the slow methods")
    ap.add_argument("--omshell-sample", type=int, default=100)
    ap.add_argument("--no-files", action="store_true", help="skip the offline counts from "
                    "files (bench/run_all.py runs them on their own)")
    args = ap.parse_args()
    labmod.check_prerequisites()
    lab = labmod.Lab.create(labmod.LabSettings(prefix=f"bench{os.getpid() % 1000}",
                                               large_pool=True))
    try:
        lab.up(timeout=120)
        host = lab.endpoint(Role.PRIMARY).host
        key = lab.key().secret
        conf = parse_file(lab.conf_path(Role.PRIMARY))
        big = max(conf.pools, key=lambda p: p.size)
        ips = [ip for r in big.ranges for ip in r.addresses()]
        sample = [str(ip) for ip in ips[: args.sample]]
        version = subprocess.run(["dhcpd", "--version"], capture_output=True, text=True)
        print(f"dhcpd {version.stderr.strip()}, pool of {len(ips)} addresses, "
              f"{os.cpu_count()} cores")
        results = {}
        results["pypureomapi plain loop"] = plain_loop(host, key, sample)
        results["pypureomapi, window 8"] = pypureomapi_windowed(host, key, sample, 8)
        results["omshell per query"] = omshell(host, key, sample[: args.omshell_sample])
        with FailoverPair(lab.pair_config()) as pair:
            for window in (8, 16):
                t = time.perf_counter()
                states = lease_states(pair.peer(Role.PRIMARY), ips, window=window)
                took = time.perf_counter() - t
                assert all(s is not None for s in states)
                results[f"omapifo scan, window {window}"] = rate(len(ips), took)
        base = results["pypureomapi plain loop"]
        print(f"\n{'method':<28} {'lookups/s':>10} {'vs plain loop':>14}")
        for name, r in results.items():
            print(f"{name:<28} {r:>10.0f} {r / base:>13.1f}x")
        best = max(v for k, v in results.items() if k.startswith("omapifo"))
        print(f"\na /16 (65,534 addresses) at {best:.0f}/s: {65534 / best:.1f} s (one peer)")
        with FailoverPair(lab.pair_config()) as pair:
            st = pair.state()
        print(f"after the scans: primary {st.primary.local_state}, secondary "
              f"{st.secondary.local_state}")
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)  # a benchmark's lab keeps no post-mortem
    if not args.no_files:
        files_benchmark()
    return 0


if __name__ == "__main__":
    sys.exit(main())
