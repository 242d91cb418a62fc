"""REST service throughput, side by side with ISC Kea's Control Agent, interleaved rounds.

    sudo .venv/bin/python bench/bench_api.py [--rounds 5] [--seconds 5]     # or: make bench

wrk -t2 -c16 (Debian's wrk) on loopback against:
- omapifo: GET /api/v1/pairs/{pair} from the poller's cache (poller running, one lab pair),
  served by `omapifo serve` (waitress, 8 threads);
- Kea 2.2 (Debian's kea-dhcp4-server with libdhcp_ha.so, kea-ctrl-agent), on 127.0.0.1
  only, with no interfaces: POST {"command": "ha-heartbeat"} and {"command": "status-get"}.
Both services run during the whole benchmark, started and ready before the first round;
each round runs every target once, in an order that rotates from round to round, so a
slow moment of the machine falls on each in turn. Prints each round, then per target the
median and spread (min-max) of requests/s and p99, and the ratio of omapifo to
ha-heartbeat: the ratio of medians and the spread of the per-round ratios.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from omapifo import lab as labmod

HOOKS = Path("/usr/lib/x86_64-linux-gnu/kea/hooks")


def wrk(url: str, seconds: int, *, body: str | None = None,
        headers: dict[str, str] | None = None) -> dict[str, float]:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    with script:
        if body is not None:
            script.write(f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
                         "wrk.headers['Content-Type'] = 'application/json'\n")
        for k, v in (headers or {}).items():
            script.write(f"wrk.headers['{k}'] = '{v}'\n")
    try:
        out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s",
                              script.name, url], capture_output=True, text=True, check=True,
                             timeout=seconds + 30).stdout
    finally:
        os.unlink(script.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms("50%"), "p99": ms("99%"), "non2xx": float(errors.group(1)) if errors else 0}


@dataclass
class Target:
    name: str
    url: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    runs: list[dict[str, float]] = field(default_factory=list)

    def run(self, seconds: int) -> dict[str, float]:
        r = wrk(self.url, seconds, body=self.body, headers=self.headers)
        self.runs.append(r)
        return r


def wait_ready(probe: Target) -> None:
    """Until ``probe`` answers 2xx (bounded: 10 s), so no round measures a start-up."""
    for _ in range(100):
        try:
            if probe.body is None:
                ok = requests.get(probe.url, headers=probe.headers, timeout=1).ok
            else:
                ok = requests.post(probe.url, data=probe.body, headers={
                    "Content-Type": "application/json"}, timeout=1).ok
            if ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{probe.name} did not answer at {probe.url} within 10 s")


@contextmanager
def kea(d: Path) -> Iterator[list[Target]]:
    sock = d / "kea4.sock"
    dhcp4 = {"Dhcp4": {
        "interfaces-config": {"interfaces": []},
        "control-socket": {"socket-type": "unix", "socket-name": str(sock)},
        "lease-database": {"type": "memfile", "persist": False},
        "hooks-libraries": [
            {"library": str(HOOKS / "libdhcp_lease_cmds.so")},
            {"library": str(HOOKS / "libdhcp_ha.so"), "parameters": {"high-availability": [{
                "this-server-name": "server1", "mode": "hot-standby",
                "heartbeat-delay": 10000, "max-response-delay": 60000,
                "max-ack-delay": 5000, "max-unacked-clients": 0,
                "peers": [
                    {"name": "server1", "url": "http://127.0.0.1:18001/", "role": "primary"},
                    {"name": "server2", "url": "http://127.0.0.1:18002/", "role": "standby"},
                ]}]}}],
        "subnet4": [],
        "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
                     "output_options": [{"output": str(d / "kea4.log")}]}]}}
    agent = {"Control-agent": {
        "http-host": "127.0.0.1", "http-port": 18001,
        "control-sockets": {"dhcp4": {"socket-type": "unix", "socket-name": str(sock)}},
        "loggers": [{"name": "kea-ctrl-agent", "severity": "WARN",
                     "output_options": [{"output": str(d / "agent.log")}]}]}}
    (d / "dhcp4.json").write_text(json.dumps(dhcp4))
    (d / "agent.json").write_text(json.dumps(agent))
    env = dict(os.environ, KEA_PIDFILE_DIR=str(d), KEA_LOCKFILE_DIR=str(d))
    procs = [subprocess.Popen(["kea-dhcp4", "-c", str(d / "dhcp4.json")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT),
             subprocess.Popen(["kea-ctrl-agent", "-c", str(d / "agent.json")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)]
    try:
        url = "http://127.0.0.1:18001/"
        targets = [Target(f"Kea Control Agent {cmd}", url,
                          json.dumps({"command": cmd, "service": ["dhcp4"]}))
                   for cmd in ("ha-heartbeat", "status-get")]
        wait_ready(targets[1])
        print("kea ha-heartbeat answers:",
              requests.post(url, data=targets[0].body, timeout=2,
                            headers={"Content-Type": "application/json"}).text[:160])
        yield targets
    finally:
        for p in procs:  # ended by pid, as everything we start
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)


@contextmanager
def omapifo(d: Path) -> Iterator[list[Target]]:
    lab = labmod.Lab.create(labmod.LabSettings(prefix=f"benchapi{os.getpid() % 100}"))
    token = "bench-reader-token"
    try:
        lab.up()
        cfg = d / "omapifo.toml"
        shutil.copy2(lab.key_path, d / "omapi.key")
        cfg.write_text(lab.config_path.read_text().replace(
            'dhcpd_conf = "', f'dhcpd_conf = "{lab.dir}/').replace(
            'dhcpd_leases = "', f'dhcpd_leases = "{lab.dir}/') + (
            f'\n[service]\nlisten = "127.0.0.1:18067"\npoll_interval = 2\n'
            f'database = "{d}/omapifo.sqlite3"\n[[service.tokens]]\nname = "bench"\n'
            f'role = "reader"\nsha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'))
        proc = subprocess.Popen([sys.executable, "-m", "omapifo.clients.cli", "-c", str(cfg),
                                 "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            target = Target("omapifo GET /api/v1/pairs/{pair}",
                            f"http://127.0.0.1:18067/api/v1/pairs/{lab.settings.peer_name}",
                            headers={"Authorization": f"Bearer {token}"})
            wait_ready(target)
            yield [target]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)  # a benchmark's lab keeps no post-mortem


def spread(values: list[float], fmt: str) -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-" \
           f"{fmt.format(max(values))})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5, help="wrk's duration per target and round")
    ap.add_argument("--settle", type=float, default=15.0,
                    help="seconds to wait after both services answer (the lab pair's pool "
                    "rebalancing after normal, the poller's first polls) before round 1")
    args = ap.parse_args()
    labmod.check_prerequisites()
    d = Path(tempfile.mkdtemp(prefix="omapifo-bench-api-"))
    try:
        with ExitStack() as stack:
            targets = stack.enter_context(omapifo(d)) + stack.enter_context(kea(d))
            time.sleep(args.settle)
            with open("/proc/loadavg") as f:
                print(f"load average before round 1: {f.read().split()[0]}")
            for n in range(args.rounds):
                shift = n % len(targets)
                for t in targets[shift:] + targets[:shift]:
                    r = t.run(args.seconds)
                    print(f"round {n + 1}: {t.name:<34} {r['rps']:>8.0f} req/s, "
                          f"p99 {r['p99']:.2f} ms, non-2xx {r['non2xx']:.0f}", flush=True)
    finally:
        shutil.rmtree(d)
    print(f"\nwrk -t2 -c16 -d{args.seconds}s, loopback, {os.cpu_count()} cores, "
          f"{args.rounds} interleaved rounds: median (min-max)")
    print(f"{'target':<36} {'req/s':>22} {'p50 ms':>20} {'p99 ms':>20} {'non-2xx':>8}")
    for t in targets:
        print(f"{t.name:<36} {spread([r['rps'] for r in t.runs], '{:.0f}'):>22} "
              f"{spread([r['p50'] for r in t.runs], '{:.2f}'):>20} "
              f"{spread([r['p99'] for r in t.runs], '{:.2f}'):>20} "
              f"{sum(r['non2xx'] for r in t.runs):>8.0f}")
    ours, hb = targets[0], targets[1]
    ratios = [a["rps"] / b["rps"] for a, b in zip(ours.runs, hb.runs, strict=True)]
    med = statistics.median(r["rps"] for r in ours.runs) / statistics.median(
        r["rps"] for r in hb.runs)
    print(f"\nomapifo / Kea ha-heartbeat: {med:.2f}x the rate (ratio of medians; per round "
          f"{min(ratios):.2f}-{max(ratios):.2f}x), p99 median "
          f"{statistics.median(r['p99'] for r in ours.runs):.2f} ms vs "
          f"{statistics.median(r['p99'] for r in hb.runs):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
