"""REST service throughput, side by side with ISC Kea's Control Agent, in one run.

    sudo .venv/bin/python bench/bench_api.py [--seconds 10]      # or: make bench

wrk -t2 -c16 (Debian's wrk) on loopback against:
- omapifo: GET /api/v1/pairs/{pair} from the poller's cache (poller running, one lab pair),
  served by `omapifo serve` (waitress, 8 threads);
- Kea 2.2 (Debian's kea-dhcp4-server with libdhcp_ha.so, kea-ctrl-agent), on 127.0.0.1
  only, with no interfaces: POST {"command": "ha-heartbeat"} and {"command": "status-get"}.
Prints requests/s, p50 and p99 for each, and omapifo's ratio to ha-heartbeat.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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


def kea(seconds: int, d: Path) -> dict[str, dict[str, float]]:
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
        for _ in range(100):
            try:
                r = requests.post(url, json={"command": "status-get", "service": ["dhcp4"]},
                                  timeout=1)
                if r.ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        print("kea ha-heartbeat answers:",
              requests.post(url, json={"command": "ha-heartbeat", "service": ["dhcp4"]},
                            timeout=2).text[:160])
        return {cmd: wrk(url, seconds, body=json.dumps({"command": cmd, "service": ["dhcp4"]}))
                for cmd in ("ha-heartbeat", "status-get")}
    finally:
        for p in procs:  # ended by pid, as everything we start
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)


def omapifo(seconds: int, d: Path) -> dict[str, float]:
    lab = labmod.Lab.create(labmod.LabSettings(prefix=f"benchapi{os.getpid() % 100}"))
    token = "bench-reader-token"
    try:
        lab.up()
        cfg = d / "omapifo.toml"
        shutil.copy2(lab.key_path, d / "omapi.key")
        cfg.write_text(lab.config_path.read_text().replace(
            'dhcpd_conf = "', f'dhcpd_conf = "{lab.dir}/') + (
            f'\n[service]\nlisten = "127.0.0.1:18067"\npoll_interval = 2\n'
            f'database = "{d}/omapifo.sqlite3"\n[[service.tokens]]\nname = "bench"\n'
            f'role = "reader"\nsha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'))
        proc = subprocess.Popen([sys.executable, "-m", "omapifo.clients.cli", "-c", str(cfg),
                                 "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:18067/api/v1/pairs/{lab.settings.peer_name}"
            for _ in range(100):
                try:
                    if requests.get(url, headers={"Authorization": f"Bearer {token}"},
                                    timeout=1).ok:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(0.1)
            return wrk(url, seconds, headers={"Authorization": f"Bearer {token}"})
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    finally:
        lab.down()
        shutil.rmtree(lab.dir, ignore_errors=True)  # a benchmark's lab keeps no post-mortem


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    labmod.check_prerequisites()
    d = Path(tempfile.mkdtemp(prefix="omapifo-bench-api-"))
    try:
        ours = omapifo(args.seconds, d)
        theirs = kea(args.seconds, d)
    finally:
        shutil.rmtree(d)
    rows = [("omapifo GET /api/v1/pairs/{pair}", ours)] + [
        (f"Kea Control Agent {cmd}", r) for cmd, r in theirs.items()]
    print(f"\nwrk -t2 -c16 -d{args.seconds}s, loopback, {os.cpu_count()} cores")
    print(f"{'target':<36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in rows:
        print(f"{name:<36} {r['rps']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
              f"{r['non2xx']:>8.0f}")
    hb = theirs["ha-heartbeat"]
    print(f"\nomapifo / Kea ha-heartbeat: {ours['rps'] / hb['rps']:.2f}x the rate, "
          f"p99 {ours['p99']:.2f} ms vs {hb['p99']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
