"""The TLS reverse proxy of docs/install.md (deploy/nginx/omapifo.conf) in front of the
service, against the lab (issue 22, "Exposing the service").

Debian's nginx runs this repository's site file, with only its listen address, certificate
paths and upstream port replaced, from a directory of the test's own (its configuration,
pid file, logs and temporary files; a loopback port), behind a certificate signed by a CA
the test makes with openssl. Through it: a Prometheus-style scrape of /metrics over https,
verified against that CA, and a partner-down made with the command line
(OMAPIFO_API_URL, OMAPIFO_TOKEN_FILE, REQUESTS_CA_BUNDLE), checked afterwards with fresh
reads of the real dhcpd. nginx is ended by its pid, pass or fail.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families

from omapifo import FailoverState, Role, load_config
from omapifo.clients import servecli

from .api.conftest import OPERATOR, READER, auth, service_config, wait_for
from .conftest import IN_CI, LogMark, fresh_state
from .test_docs import DOCS, blocks
from .test_prometheus_rules import RULES, promtool

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "omapifo.conf"
PAIR = "classroom-1-6"
NAME = "dhcp-ops.example.edu"  # the site's server_name, and the certificate's
CI = FailoverState.COMMUNICATIONS_INTERRUPTED
PD = FailoverState.PARTNER_DOWN
# what Prometheus 2.x sends when it scrapes (scrape/scrape.go, acceptHeader)
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "User-Agent": "Prometheus/2.42.0", "X-Prometheus-Scrape-Timeout-Seconds": "10",
    "Accept-Encoding": "gzip"}


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}",
                                                                  os.X_OK) else None)
    if found is None:
        message = f"no {name}: apt-get install {name} (make apt installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificates(d: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key): a CA of the test's own, and a
    certificate it signed for NAME and 127.0.0.1."""
    openssl = tool("openssl")

    def run(*argv: str) -> None:
        subprocess.run([openssl, *argv], cwd=d, check=True, capture_output=True, timeout=60)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-days", "2", "-subj", "/CN=omapifo test CA", "-keyout", "ca.key",
        "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-subj", f"/CN={NAME}", "-keyout", "server.key", "-out", "server.csr")
    (d / "server.ext").write_text(f"subjectAltName=DNS:{NAME},IP:127.0.0.1\n"
                                  "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                                  "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
    return d / "ca.pem", d / "server.pem", d / "server.key"


def site(port: int, upstream: int, cert: Path, key: Path) -> str:
    """deploy/nginx/omapifo.conf with what differs here replaced, each exactly once: a
    change of the shipped file that this test would not run fails here first."""
    text = SITE.read_text()
    for old, new in (("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                     ("/etc/ssl/omapifo/fullchain.pem", str(cert)),
                     ("/etc/ssl/omapifo/privkey.pem", str(key)),
                     ("proxy_pass http://127.0.0.1:8067;", f"proxy_pass http://127.0.0.1:{upstream};")):
        assert text.count(old) == 1, f"{SITE}: {old!r} is not there once"
        text = text.replace(old, new)
    return text


def main_conf(d: Path) -> str:
    """nginx.conf around the site: everything nginx writes stays in ``d``."""
    temp = "\n".join(f"    {kind}_temp_path {d}/tmp/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n    access_log {d}/access.log;\n{temp}\n    include {d}/omapifo.conf;\n}}\n")


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def alive(pid: int) -> bool:
    """Running, not a zombie (process 1 of these machines reaps no orphans)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@contextlib.contextmanager
def nginx(port: int, upstream: int, cert: Path, key: Path) -> Iterator[Path]:
    """Debian's nginx on 127.0.0.1:``port`` with the shipped site, in a directory of its
    own (every user may pass through it: the workers run as nobody and buffer into its
    tmp/); ended by its master's pid, its workers checked gone."""
    binary = tool("nginx")
    d = Path(tempfile.mkdtemp(prefix="omapifo-nginx-"))
    d.chmod(0o711)
    (d / "tmp").mkdir(mode=0o711)  # nginx makes each temp directory in it, not this one
    (d / "omapifo.conf").write_text(site(port, upstream, cert, key))
    conf = d / "nginx.conf"
    conf.write_text(main_conf(d))
    argv = [binary, "-p", f"{d}/", "-c", str(conf), "-e", str(d / "error.log")]
    proc = None
    workers: list[int] = []
    try:
        checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stderr  # nginx -t, as the install says
        proc = subprocess.Popen([*argv, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

        def listening() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"nginx ended: {proc.stderr.read().decode()}"
                                     f"{(d / 'error.log').read_text()}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        assert wait_for(listening, 30, step=0.1), "nginx does not listen"
        workers = children(proc.pid)
        assert workers, "nginx has no worker"
        yield d
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)  # nginx's fast shutdown (master and workers)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            proc.stderr.close()
        deadline = time.monotonic() + 30
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [w for w in workers if alive(w)]
        for w in left:
            os.kill(w, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)
        assert not left, f"nginx workers {left} outlived their master"


@pytest.fixture
def proxied(healthy_lab, tmp_path) -> Iterator[dict[str, object]]:
    """The service on the lab (as the site's comment sets it up), nginx in front."""
    cfg = service_config(healthy_lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    text = cfg.read_text().replace("[service]\n", f'[service]\nallowed_hosts = ["{NAME}"]\n'
                                   "trusted_proxies = 1\n", 1)
    cfg.write_text(text)
    url, run, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(run)
    try:
        ca, cert, key = make_certificates(tmp_path)
        port = free_port()
        with nginx(port, int(url.rsplit(":", 1)[1]), cert, key) as d:
            yield {"url": f"https://127.0.0.1:{port}", "ca": str(ca), "dir": d,
                   "service": url, "cfg": cfg}
    finally:
        stop()


def scrape(p: dict[str, object]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A scrape as Prometheus makes it (its headers, TLS verified against the CA), with the
    Host the clients use: each sample by name and labels."""
    resp = requests.get(f"{p['url']}/metrics", headers={**PROMETHEUS_HEADERS, "Host": NAME},
                        verify=str(p["ca"]), timeout=30)
    assert resp.status_code == 200, resp.text
    kind = resp.headers["Content-Type"]
    parse = openmetrics if kind.startswith("application/openmetrics-text") else \
        text_string_to_metric_families
    assert kind.startswith(("application/openmetrics-text", "text/plain")), kind
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in parse(resp.text) for s in fam.samples}


def local_state(samples, role: str) -> float | None:
    return samples.get(("omapifo_peer_local_state", (("pair", PAIR), ("peer", role))))


def test_a_scrape_and_the_hosts_through_the_tls_proxy(proxied):
    p = proxied
    samples = scrape(p)
    assert samples[("omapifo_pair_health", (("pair", PAIR),))] == 0  # both normal
    assert local_state(samples, "secondary") == int(FailoverState.NORMAL)
    # the proxy passes the client's Host on: an allowed name is answered, another refused
    # by the service itself (its problem body, not nginx's page)
    for host, status in ((NAME, 200), ("127.0.0.1", 200), ("rebind.example.net", 400)):
        resp = requests.get(f"{p['url']}/healthz", headers={"Host": host},
                            verify=str(p["ca"]), timeout=30)
        assert resp.status_code == status, (host, resp.text)
    assert "rebind.example.net" in resp.json()["detail"]
    # and X-Forwarded-Proto: the service knows it was https, so the login cookie is Secure
    login = requests.post(f"{p['url']}/login", data={"token": READER}, headers={"Host": NAME},
                          verify=str(p["ca"]), allow_redirects=False, timeout=30)
    assert login.status_code in (302, 303), login.text
    assert "Secure" in login.headers["Set-Cookie"], login.headers["Set-Cookie"]
    # plain http to the TLS port is refused by nginx, never passed on
    port = p["url"].rsplit(":", 1)[1]
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 400
    # an untrusted certificate is refused by the client
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{p['url']}/healthz", timeout=30)
    # every request was nginx's to pass on: its access log has them
    assert "GET /metrics" in (p["dir"] / "access.log").read_text()


def install_scrape_job(port: int, ca: Path) -> str:
    """docs/install.md's Prometheus configuration (step 8), pointed at this proxy: its
    target, CA file and rule file replaced, each exactly once."""
    text = next(b.body for b in blocks(DOCS / "install.md")
                if b.lang == "yaml" and "scrape_configs:" in b.body)
    for old, new in (('["dhcp-ops.example.edu:443"]', f'["127.0.0.1:{port}"]'),
                     ("/etc/prometheus/omapifo-ca.pem", str(ca)),
                     ("/etc/prometheus/rules/omapifo.rules.yml", str(RULES))):
        assert text.count(old) == 1, f"install.md's scrape job: {old!r} is not there once"
        text = text.replace(old, new)
    return text


def test_the_install_pages_scrape_job_scrapes_through_the_proxy(proxied, tmp_path):
    """Prometheus's own checker takes the job; what it names (scheme, target, path, CA)
    answers a scrape, and the exposition passes promtool's metrics check."""
    p = proxied
    port = int(str(p["url"]).rsplit(":", 1)[1])
    conf = tmp_path / "prometheus.yml"
    conf.write_text(install_scrape_job(port, Path(str(p["ca"]))))
    checked = subprocess.run([promtool(), "check", "config", str(conf)], capture_output=True,
                             text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    job = yaml.safe_load(conf.read_text())["scrape_configs"][0]
    url = (f"{job.get('scheme', 'http')}://{job['static_configs'][0]['targets'][0]}"
           f"{job.get('metrics_path', '/metrics')}")
    resp = requests.get(url, headers=PROMETHEUS_HEADERS, verify=job["tls_config"]["ca_file"],
                        timeout=30)  # Host: the target, as Prometheus sends it
    assert resp.status_code == 200 and "omapifo_pair_health" in resp.text, resp.text[:500]
    text = requests.get(url, headers={"Accept": "text/plain;version=0.0.4"},
                        verify=job["tls_config"]["ca_file"], timeout=30)
    linted = subprocess.run([promtool(), "check", "metrics"], input=text.text,
                            capture_output=True, text=True, timeout=120)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_partner_down_through_the_proxy_from_the_command_line(proxied, healthy_lab,
                                                               tmp_path):
    p, lab = proxied, healthy_lab
    token = tmp_path / "operator.token"
    token.write_text(OPERATOR + "\n")
    token.chmod(0o600)
    env = {**os.environ, "OMAPIFO_API_URL": str(p["url"]), "OMAPIFO_TOKEN_FILE": str(token),
           "REQUESTS_CA_BUNDLE": str(p["ca"]), "OMAPIFO_AUDIT_LOG": str(tmp_path / "a.log")}
    for name in ("OMAPIFO_CONFIG", "OMAPIFO_TOKEN"):  # through the service only
        env.pop(name, None)

    def omapifo(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "omapifo.clients.cli", *argv], env=env,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)

    got = omapifo("partner-down", PAIR, "secondary", "--yes")
    assert got.returncode == 1 and "not communications-interrupted" in got.stderr, got.stderr
    lab.stop(Role.PRIMARY)
    lab.wait_states(None, CI, timeout=30)
    got = omapifo("partner-down", PAIR, "secondary", "--dry-run", "--yes")
    assert got.returncode == 0 and "would" in got.stdout, got.stdout + got.stderr
    assert fresh_state(lab).secondary.local_state is CI  # a dry run changed nothing
    mark = LogMark(lab)
    got = omapifo("partner-down", PAIR, "secondary", "--yes", "--reason",
                  "primary stopped in the lab (through the TLS proxy)")
    assert got.returncode == 0 and "now in partner-down" in got.stdout, got.stdout + got.stderr
    # the real dhcpd, read again over connections of our own, and its log
    assert fresh_state(lab).secondary.local_state is PD
    assert "I move from communications-interrupted to partner-down" in mark.since(
        Role.SECONDARY)
    # on the service's record, as the operator token's name, with the reason
    entries = requests.get(f"{p['url']}/api/v1/audit", headers=auth(OPERATOR),
                           verify=str(p["ca"]), timeout=30).json()["entries"]
    done = [e for e in entries if (e["action"], e["outcome"]) == ("partner-down", "done")]
    assert done and done[0]["actor"] == "alice" and "TLS proxy" in done[0]["reason"]
    # and the next scrape shows it (the poller's next round)
    assert wait_for(lambda: local_state(scrape(p), "secondary") == int(PD), 30), \
        "partner-down never reached /metrics"
    assert re.search(r'"POST /api/v1/pairs/classroom-1-6/peers/secondary/partner-down\S* '
                     r'HTTP/1.1" 200', (p["dir"] / "access.log").read_text())
