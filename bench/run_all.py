"""Every benchmark of docs/performance.md, one after the other (``make bench``).

    sudo .venv/bin/python bench/run_all.py                 # the figures' parameters
    sudo .venv/bin/python bench/run_all.py --quick         # a smoke run: small samples, 2 s of wrk
    .venv/bin/python bench/run_all.py --only offline       # no lab, no root

Each benchmark runs as its own subprocess (its own lab, its own interpreter) and prints its
own results; this script only says which one runs and how it ended. Nothing is timed
against a threshold: the numbers are for docs/performance.md, every one of them (the
10-minute soak last: ``--only`` leaves it out when the others are enough).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# name -> what it measures, and what it needs
BENCHMARKS = {
    "scan": "pool scan over OMAPI against a lab server (root, the lab's Debian packages)",
    "offline": "counts from a generated /16 dhcpd.leases versus dhcpd-pools (no lab)",
    "leases": "live lease list versus the counts-only scan (root, the lab's Debian packages)",
    "api": "REST service versus Kea's Control Agent under wrk (root, wrk, Kea)",
    "soak": "50 pairs polled every 5 s for 10 minutes under wrk (root, wrk): RSS, p99, polls",
}


def commands(quick: bool = False, only: list[str] | None = None,
             python: str = sys.executable) -> list[tuple[str, list[str]]]:
    """The benchmarks to run, in order, each as the command line of a subprocess."""
    scan = [python, str(BENCH / "bench_scan.py"), "--no-files"]
    api = [python, str(BENCH / "bench_api.py")]
    if quick:
        scan += ["--sample", "200", "--omshell-sample", "10", "--rounds", "1", "--settle", "1"]
        api += ["--seconds", "2", "--rounds", "2", "--settle", "1"]
    offline = [python, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import bench_scan; "
               "bench_scan.files_benchmark()", str(BENCH)]
    leases = [python, str(BENCH / "bench_leases.py"), "--no-files"]
    if quick:
        leases += ["--rounds", "1", "--settle", "1"]
    soak = [python, str(BENCH / "bench_soak.py"), "--pairs", "50", "--minutes", "10",
            "--interval", "5"]
    if quick:
        soak = [python, str(BENCH / "bench_soak.py"), "--pairs", "5", "--minutes", "1",
                "--interval", "5"]
    every = {"scan": scan, "offline": offline, "leases": leases, "api": api, "soak": soak}
    return [(name, every[name]) for name in BENCHMARKS if not only or name in only]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="small samples: a smoke run, not "
                    "figures to publish")
    ap.add_argument("--only", action="append", choices=list(BENCHMARKS),
                    help="run only this benchmark (may be repeated)")
    args = ap.parse_args(argv)
    failed = []
    for name, cmd in commands(args.quick, args.only):
        print(f"\n=== {name}: {BENCHMARKS[name]}", flush=True)
        t = time.monotonic()
        code = subprocess.run(cmd, cwd=BENCH.parent).returncode
        took = time.monotonic() - t
        print(f"=== {name}: {'done' if code == 0 else f'FAILED (exit {code})'} "
              f"in {took:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
