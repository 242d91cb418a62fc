"""The seed's classroom as a real lab: an ISC dhcpd failover pair in network namespaces.

Layout (slot 0; the seed's 192.168.10.x / 192.168.60.x become 198.18.10.x / 198.18.60.x)::

    root ns --{prefix}-m-- rtr (198.18.0.2/30, forwards, runs dhcrelay)
                            ├── p  198.18.10.254 ── pri eth0 198.18.10.253  dhcpd primary
                            ├── s  198.18.60.254 ── sec eth0 198.18.60.253  dhcpd secondary
                            └── cN 198.18.1N.254 ── cN  eth0 (no address)   dhclient, N = 1..4

Only 198.18.0.0/15 (RFC 2544's benchmarking range) is used, split into eight /18
slots so that labs with different prefixes run side by side; a lab with
``large_pool`` also takes the next slot as client subnet 4 (a /18, 16,382 addresses).
The root namespace gets one link and one route per lab, so OMAPI is reachable from
the test process. Everything ``up`` makes is recorded in a state file *before* it is
made, so ``down`` removes exactly that, even after a half-failed ``up``; processes
are ended by their recorded pid, after checking the pid still runs that program.
"""
from __future__ import annotations

import base64
import fcntl
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .config import Config, Endpoint, PairConfig, load_config
from .errors import LabError
from .omapi import OmapiKey
from .states import FailoverState, Role

LAB_NET = ipaddress.IPv4Network("198.18.0.0/15")
SLOTS = 8  # /18 blocks in LAB_NET
REGISTRY = Path("/run/omapifo-lab")
DEFAULT_PREFIX = "omapifo"
DEFAULT_PEER_NAME = "classroom-1-6"
CLIENT_SUBNETS = 4
OMAPI_PORT = 7911
REQUIRED_TOOLS = ("dhcpd", "dhclient", "dhcrelay", "ip")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")  # + "-m" stays within IFNAMSIZ (15)


@dataclass(frozen=True)
class Layout:
    """The addresses of a lab in slot ``slot``."""

    slot: int
    large_pool: bool = False

    def _addr(self, third: int, fourth: int) -> str:
        base = int(LAB_NET.network_address) + self.slot * 16384
        return str(ipaddress.IPv4Address(base + third * 256 + fourth))

    @property
    def block(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self._addr(0, 0)}/18")

    @property
    def blocks(self) -> list[ipaddress.IPv4Network]:
        return [self.block] + ([self.large_block] if self.large_pool else [])

    @property
    def large_block(self) -> ipaddress.IPv4Network:
        return Layout(self.slot + 1).block

    root_mgmt = property(lambda self: self._addr(0, 1))
    rtr_mgmt = property(lambda self: self._addr(0, 2))

    def server_net(self, role: Role) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self._addr(10 if role is Role.PRIMARY else 60, 0)}/24")

    def server_addr(self, role: Role) -> str:
        return self._addr(10 if role is Role.PRIMARY else 60, 253)

    def client_net(self, n: int) -> ipaddress.IPv4Network:
        if n == CLIENT_SUBNETS and self.large_pool:
            return self.large_block
        return ipaddress.IPv4Network(f"{self._addr(10 + n, 0)}/24")

    def client_gateway(self, n: int) -> str:
        net = self.client_net(n)
        return str(net.broadcast_address - 1)

    def client_range(self, n: int) -> tuple[str, str]:
        net = self.client_net(n)
        if n == CLIENT_SUBNETS and self.large_pool:
            # every host address but the router's: 16,381 addresses in one pool
            return str(net.network_address + 1), str(net.broadcast_address - 2)
        # the seed's dynamic range: .32 to .63
        return str(net.network_address + 32), str(net.network_address + 63)


@dataclass(frozen=True)
class LabSettings:
    """What a lab is built with; the defaults follow the seed and the measured facts."""

    prefix: str = DEFAULT_PREFIX
    peer_name: str = DEFAULT_PEER_NAME
    large_pool: bool = False
    algorithm: str = "hmac-md5"
    mclt: int = 60  # the seed says 300 "for demonstration"; 60 keeps recover quick
    max_response_delay: int = 15
    max_unacked_updates: int = 10
    split: int = 128
    lease_time: int = 600


def _run(*cmd: str, check: bool = True, timeout: float = 20,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(cmd)}` did not finish within {timeout:g} s") from None
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def check_prerequisites() -> None:
    """Raise LabError with the one line a user needs if the lab cannot run here."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (it creates network namespaces): run it with sudo")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None
               and not Path(f"/usr/sbin/{t}").exists()]
    if missing:
        raise LabError(f"missing {', '.join(missing)}: run `apt-get install isc-dhcp-server "
                       "isc-dhcp-client isc-dhcp-relay iproute2` (or `make setup`)")


def _pid_runs(pid: int | None, program: str) -> bool:
    """True if ``pid`` is alive and still runs ``program`` (pids get reused)."""
    if not pid:
        return False
    _reap(pid)  # our own child that exited by itself (a dhcpd told to shut down)
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    # Right after spawning, the child may still be `ip netns exec` about to exec it.
    return comm in (program, "ip") and not zombie


def _end_pid(pid: int | None, program: str, grace: float = 5.0) -> None:
    """SIGTERM ``pid`` if it still runs ``program``; SIGKILL after ``grace`` seconds."""
    if not _pid_runs(pid, program):
        _reap(pid)
        return
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGCONT)  # a SIGSTOPped process acts on SIGTERM once continued
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not _pid_runs(pid, program):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        _reap(pid)
        if not _pid_runs(pid, program):
            return
        time.sleep(0.02)


def _reap(pid: int | None) -> None:
    """Collect our own exited child so it does not linger as a zombie."""
    if not pid:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@contextmanager
def _registry_lock() -> Iterator[None]:
    REGISTRY.mkdir(parents=True, exist_ok=True)
    with open(REGISTRY / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _used_blocks() -> set[int]:
    """Slots whose /18 the root namespace already routes (another lab, or anything else)."""
    used: set[int] = set()
    routes = json.loads(_run("ip", "-4", "-j", "route", "show", "table", "all").stdout or "[]")
    addrs = json.loads(_run("ip", "-4", "-j", "addr", "show").stdout or "[]")
    nets = [r.get("dst", "") for r in routes] + [
        f"{a['local']}/{a['prefixlen']}" for i in addrs for a in i.get("addr_info", [])]
    for text in nets:
        try:
            net = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            continue
        for slot in range(SLOTS):
            if Layout(slot).block.overlaps(net):
                used.add(slot)
    for state_file in REGISTRY.glob("*.json"):
        try:
            data = json.loads(state_file.read_text())
        except (OSError, ValueError):
            continue
        used.update(data.get("slots", []))
    return used


class Lab:
    """One lab, identified by its prefix; its record lives in /run/omapifo-lab/PREFIX.json.

    >>> lab = Lab.create(LabSettings(prefix="demo"), Path("/tmp/demo-lab"))
    >>> lab.up()                 # returns when both servers are normal over OMAPI
    >>> lab.client(1)            # one real DHCP exchange from client subnet 1
    '198.18.11.63'
    >>> lab.down()
    """

    def __init__(self, settings: LabSettings, directory: Path, state: dict[str, Any]) -> None:
        self.settings = settings
        self.dir = directory
        self.state = state

    # -- record ---------------------------------------------------------------------------

    @staticmethod
    def record_path(prefix: str) -> Path:
        return REGISTRY / f"{prefix}.json"

    @classmethod
    def create(cls, settings: LabSettings, directory: Path | None = None) -> Lab:
        if not _PREFIX_RE.match(settings.prefix):
            raise LabError(f"prefix {settings.prefix!r}: use 1-12 lowercase letters, digits or "
                           "'-', starting with a letter (it names namespaces and links)")
        directory = (directory or REGISTRY / settings.prefix).resolve()
        return cls(settings, directory, {"prefix": settings.prefix, "dir": str(directory),
                                         "settings": settings.__dict__, "slots": [],
                                         "owner": os.getpid(),
                                         "namespaces": [], "links": [], "pids": {}})

    @classmethod
    def load(cls, prefix: str = DEFAULT_PREFIX) -> Lab:
        """The lab recorded under ``prefix``; LabError if there is none."""
        path = cls.record_path(prefix)
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab with prefix {prefix!r} (nothing in {path}); "
                           "start one with `omapifo lab up`") from None
        return cls(LabSettings(**state["settings"]), Path(state["dir"]), state)

    def _reload(self) -> dict[str, Any]:
        """Re-read the record: another process (`omapifo lab start`) may have changed pids."""
        try:
            self.state = json.loads(self.record_path(self.settings.prefix).read_text())
        except (OSError, ValueError):
            pass  # not recorded (yet, or any more): keep what this object knows
        return self.state

    def _save(self) -> None:
        REGISTRY.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path(self.settings.prefix).with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.record_path(self.settings.prefix))

    @property
    def layout(self) -> Layout:
        if not self.state["slots"]:
            raise LabError(f"lab {self.settings.prefix!r} has no slot yet (not up)")
        return Layout(self.state["slots"][0], self.settings.large_pool)

    def ns(self, name: str) -> str:
        return f"{self.settings.prefix}-{name}"

    # -- paths ----------------------------------------------------------------------------

    def server_dir(self, role: Role) -> Path:
        return self.dir / str(role)

    def conf_path(self, role: Role) -> Path:
        return self.server_dir(role) / "dhcpd.conf"

    def leases_path(self, role: Role) -> Path:
        return self.server_dir(role) / "dhcpd.leases"

    def log_path(self, role: Role) -> Path:
        return self.server_dir(role) / "dhcpd.log"

    @property
    def config_path(self) -> Path:
        return self.dir / "omapifo.toml"

    @property
    def key_path(self) -> Path:
        return self.dir / "omapi.key"

    # -- up -------------------------------------------------------------------------------

    def up(self, timeout: float = 60.0) -> None:
        """Build the namespaces, write the configuration, start everything, wait for normal.

        On any failure the part already made stays recorded; call :meth:`down`.
        """
        check_prerequisites()
        if self.record_path(self.settings.prefix).exists():
            raise LabError(f"a lab with prefix {self.settings.prefix!r} is already recorded "
                           f"({self.record_path(self.settings.prefix)}); run `omapifo lab down "
                           f"--prefix {self.settings.prefix}` first, or use another --prefix")
        with _registry_lock():
            used = _used_blocks()
            need = 2 if self.settings.large_pool else 1
            slot = next((s for s in range(0, SLOTS - need + 1)
                         if not {s, s + need - 1} & used), None)
            if slot is None:
                raise LabError("no free address slot in 198.18.0.0/15: take another lab down "
                               "first (`omapifo lab down --prefix ...`)")
            self.state["slots"] = list(range(slot, slot + need))
            self._save()  # claims the slot before the lock is released
        self.dir.mkdir(parents=True, exist_ok=True)
        self._build_network()
        self._write_configuration()
        self._start_relay()
        for role in Role:
            self.start(role, wait=False)
        self.wait_normal(timeout)

    def _netns_add(self, name: str) -> None:
        full = self.ns(name)
        if full in _run("ip", "netns", "list").stdout.split():
            raise LabError(f"network namespace {full} already exists and is not this lab's; "
                           "remove it or choose another --prefix")
        self.state["namespaces"].append(full)
        self._save()
        _run("ip", "netns", "add", full)
        _run("ip", "-n", full, "link", "set", "lo", "up")

    def _veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        _run("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b,
             "netns", ns_b)
        for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
            _run("ip", "-n", ns, "link", "set", "dev", ifname, "up")

    def _build_network(self) -> None:
        lay = self.layout
        rtr = self.ns("rtr")
        for name in ("rtr", "pri", "sec", *(f"c{n}" for n in range(1, CLIENT_SUBNETS + 1))):
            self._netns_add(name)
        _run("ip", "netns", "exec", rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for role, short in ((Role.PRIMARY, "pri"), (Role.SECONDARY, "sec")):
            net = lay.server_net(role)
            self._veth(rtr, short[0], self.ns(short), "eth0")
            _run("ip", "-n", rtr, "addr", "add", f"{net.broadcast_address - 1}/24", "dev", short[0])
            _run("ip", "-n", self.ns(short), "addr", "add", f"{lay.server_addr(role)}/24",
                 "dev", "eth0")
            _run("ip", "-n", self.ns(short), "route", "add", "default", "via",
                 str(net.broadcast_address - 1))
        for n in range(1, CLIENT_SUBNETS + 1):
            net = lay.client_net(n)
            self._veth(rtr, f"c{n}", self.ns(f"c{n}"), "eth0")
            _run("ip", "-n", rtr, "addr", "add", f"{lay.client_gateway(n)}/{net.prefixlen}",
                 "dev", f"c{n}")
            self._set_client_mac(n, self.default_mac(n))
        # The one link into the root namespace, so OMAPI is reachable from here.
        mgmt = f"{self.settings.prefix}-m"
        if _run("ip", "link", "show", mgmt, check=False).returncode == 0:
            raise LabError(f"link {mgmt} already exists and is not this lab's")
        self.state["links"].append(mgmt)
        self._save()
        _run("ip", "link", "add", mgmt, "type", "veth", "peer", "name", "mgmt", "netns", rtr)
        _run("ip", "addr", "add", f"{lay.root_mgmt}/30", "dev", mgmt)
        _run("ip", "link", "set", mgmt, "up")
        _run("ip", "-n", rtr, "addr", "add", f"{lay.rtr_mgmt}/30", "dev", "mgmt")
        _run("ip", "-n", rtr, "link", "set", "dev", "mgmt", "up")
        for block in lay.blocks:
            _run("ip", "route", "replace", str(block), "via", lay.rtr_mgmt, "dev", mgmt)

    def default_mac(self, n: int) -> str:
        return f"02:00:00:{self.layout.slot:02x}:00:{n:02x}"

    def _set_client_mac(self, n: int, mac: str) -> None:
        ns = self.ns(f"c{n}")
        _run("ip", "-n", ns, "link", "set", "eth0", "down")
        _run("ip", "-n", ns, "link", "set", "eth0", "address", mac)
        _run("ip", "-n", ns, "link", "set", "eth0", "up")

    # -- configuration (the seed's way) ---------------------------------------------------

    def failover_block(self, role: Role) -> str:
        """The seed's dhcpd.conf-failover-<role>, with lab addresses and quick timers."""
        s, lay = self.settings, self.layout
        me, peer = lay.server_addr(role), lay.server_addr(role.other)
        port, peer_port = (519, 520) if role is Role.PRIMARY else (520, 519)
        lines = [f'failover peer "{s.peer_name}" {{', f"    {role};", "",
                 "    #   my server settings", f"    address {me};", f"    port {port};", "",
                 "    #   my partner's server settings", f"    peer address {peer};",
                 f"    peer port {peer_port};", "",
                 f"    max-response-delay {s.max_response_delay};",
                 f"    max-unacked-updates {s.max_unacked_updates};",
                 "    load balance max seconds 3;"]
        if role is Role.PRIMARY:
            lines += ["", "    #   fraction of addresses for load-sharing (0-255)",
                      f"    split {s.split};", "",
                      "    #   how long leases to grant when partner has failed",
                      f"    mclt {s.mclt};"]
        else:
            lines += ["", "    #   split and mclt inherited from primary server"]
        return "\n".join(lines) + "\n}\n"

    def master_conf(self, role: Role, secret: str) -> str:
        s, lay = self.settings, self.layout
        out = [f"# omapifo lab {s.prefix}: the {role} of failover pair \"{s.peer_name}\"",
               "# (the seed's classroom exercise; written by `omapifo lab up`)",
               "authoritative;", "ddns-update-style none;",
               f"default-lease-time {s.lease_time};", f"max-lease-time {s.lease_time * 2};",
               "", f"omapi-port {OMAPI_PORT};",
               f'key omapi_key {{ algorithm {s.algorithm}; secret "{secret}"; }}',
               "omapi-key omapi_key;", "",
               "#   Include failover configuration", 'include "dhcpd.conf-failover";', ""]
        for r in Role:
            net = lay.server_net(r)
            out.append(f"# the {r}'s server subnet: no dynamic addresses here")
            out.append(f"subnet {net.network_address} netmask {net.netmask} {{ }}")
        for n in range(1, CLIENT_SUBNETS + 1):
            net = lay.client_net(n)
            low, high = lay.client_range(n)
            out += ["", f"# client subnet {n}, relayed by the router",
                    f"subnet {net.network_address} netmask {net.netmask} {{",
                    f"    option routers {lay.client_gateway(n)};", "", "    pool {",
                    "        deny dynamic bootp clients;",
                    f'        failover peer "{s.peer_name}";',
                    f"        range {low} {high};", "    }", "}"]
        return "\n".join(out) + "\n"

    def _write_configuration(self) -> None:
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self.key_path.write_text(secret + "\n")
        self.key_path.chmod(0o600)
        for role in Role:
            d = self.server_dir(role)
            d.mkdir(parents=True, exist_ok=True)
            for r in Role:
                (d / f"dhcpd.conf-failover-{r}").write_text(self.failover_block(r))
            link = d / "dhcpd.conf-failover"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(f"dhcpd.conf-failover-{role}")
            conf = self.conf_path(role)
            conf.write_text(self.master_conf(role, secret))
            conf.chmod(0o600)  # it holds the OMAPI secret
            self.leases_path(role).touch()
        lay, s = self.layout, self.settings
        self.config_path.write_text(
            f"# written by `omapifo lab up --prefix {s.prefix}`\n"
            # a lock directory of the lab's own: labs side by side never share a pair lock
            f'lock_dir = "{self.dir / "locks"}"\n\n'
            f"[pairs.{s.peer_name}]\n"
            f'primary = "{lay.server_addr(Role.PRIMARY)}:{OMAPI_PORT}"\n'
            f'secondary = "{lay.server_addr(Role.SECONDARY)}:{OMAPI_PORT}"\n'
            f'key_name = "omapi_key"\nkey_file = "{self.key_path.name}"\n'
            f'algorithm = "{s.algorithm}"\nfailover_peer = "{s.peer_name}"\n'
            f'dhcpd_conf = "{self.conf_path(Role.PRIMARY).relative_to(self.dir)}"\n'
            f'secondary_dhcpd_conf = "{self.conf_path(Role.SECONDARY).relative_to(self.dir)}"\n'
            "timeout = 3.0\n")
        for role in Role:
            # dhcpd resolves a relative include against its working directory, not
            # the including file (measured with 4.4.3): test it from where it runs.
            proc = _run("dhcpd", "-4", "-t", "-cf", "dhcpd.conf", check=False,
                        cwd=self.server_dir(role))
            if proc.returncode != 0:
                raise LabError(f"dhcpd -t rejects the {role}'s configuration "
                               f"{self.conf_path(role)}:\n{proc.stderr.strip()}")

    # -- processes ------------------------------------------------------------------------

    def _spawn(self, key: str, ns: str, argv: list[str], log: Path,
               cwd: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``ns``; `ip netns exec` execs it, so the pid is the program's."""
        with open(log, "ab") as fh:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=cwd, start_new_session=True)
        self.state["pids"][key] = proc.pid
        self._save()
        (self.dir / f"{key}.pid").write_text(f"{proc.pid}\n")
        return proc

    def _start_relay(self) -> None:
        lay = self.layout
        argv = ["dhcrelay", "-4", "-d", "-pf", str(self.dir / "dhcrelay.own.pid"),
                "-iu", "p", "-iu", "s"]
        for n in range(1, CLIENT_SUBNETS + 1):
            argv += ["-id", f"c{n}"]
        argv += [lay.server_addr(Role.PRIMARY), lay.server_addr(Role.SECONDARY)]
        self._spawn("dhcrelay", self.ns("rtr"), argv, self.dir / "dhcrelay.log", self.dir)

    def start(self, role: Role | str, *, wait: bool = True, timeout: float = 60.0) -> int:
        """Start (or restart) one server's dhcpd; optionally wait for the pair to be normal."""
        role = Role.parse(role)
        key = f"dhcpd-{role}"
        if _pid_runs(self._reload()["pids"].get(key), "dhcpd"):
            raise LabError(f"the {role} is already running (pid {self.state['pids'][key]})")
        d = self.server_dir(role)
        ns = self._server_ns(role)
        own_pid = d / "dhcpd.own.pid"
        # dhcpd refuses to start ("There's already a DHCP server running") while the pid
        # in its pid file exists, and a stopped dhcpd whose parent has not reaped it yet
        # still does: a pid file whose process no longer runs dhcpd is stale.
        if own_pid.exists():
            try:
                stale = not _pid_runs(int(own_pid.read_text().split()[0]), "dhcpd")
            except (ValueError, IndexError):
                stale = True
            if stale:
                own_pid.unlink()
        pid = self._spawn(key, ns, ["dhcpd", "-4", "-f", "-d", "-cf", "dhcpd.conf", "-lf",
                                    "dhcpd.leases", "-pf", str(own_pid), "eth0"],
                          self.log_path(role), d).pid
        if wait:
            self.wait_normal(timeout)
        return pid

    def stop(self, role: Role | str) -> None:
        """Stop one server as the seed does (``kill `cat dhcpd.pid```): SIGTERM by its pid."""
        role = Role.parse(role)
        _end_pid(self._reload()["pids"].get(f"dhcpd-{role}"), "dhcpd")

    def running(self, role: Role | str) -> bool:
        return _pid_runs(self._reload()["pids"].get(f"dhcpd-{Role.parse(role)}"), "dhcpd")

    # -- faults (for the reliability tests) ---------------------------------------------

    def _server_ns(self, role: Role | str) -> str:
        return self.ns("pri" if Role.parse(role) is Role.PRIMARY else "sec")

    def cut(self, role: Role | str) -> None:
        """Cut a server off without stopping it: its only link goes down."""
        _run("ip", "-n", self._server_ns(role), "link", "set", "dev", "eth0", "down")

    def _partition_rules(self, action: str, check: bool) -> None:
        lay = self.layout
        a, b = lay.server_addr(Role.PRIMARY), lay.server_addr(Role.SECONDARY)
        for src, dst in ((a, b), (b, a)):
            _run("ip", "-n", self.ns("rtr"), "rule", action, "from", src, "to", dst,
                 "blackhole", check=check)

    def partition(self) -> None:
        """Cut the two servers off from each other only; both stay reachable from here.

        These machines have no iptables or nft: a blackhole policy rule in the router
        namespace drops what one server sends the other (facts file, measured)."""
        self._partition_rules("add", check=True)

    def mend(self) -> None:
        """Undo :meth:`partition` (fine to call when there is none)."""
        self._partition_rules("del", check=False)

    def throttle(self, role: Role | str, rate: str = "16kbit") -> None:
        """Make a server slow to reach: its link is rate-limited (tc tbf).

        tc netem would add a plain delay, but this kernel has no sch_netem
        (CONFIG_NET_SCH_NETEM is not set, measured); a token bucket that holds packets
        up to 5 s delays every answer instead, which is what a slow peer looks like.
        """
        _run("ip", "netns", "exec", self._server_ns(role), "tc", "qdisc", "replace", "dev",
             "eth0", "root", "tbf", "rate", rate, "burst", "1600", "latency", "5s")

    def pause(self, role: Role | str) -> None:
        """Freeze a server's dhcpd (SIGSTOP): it accepts connections but never answers."""
        pid = self._reload()["pids"].get(f"dhcpd-{Role.parse(role)}")
        if _pid_runs(pid, "dhcpd"):
            os.kill(pid, signal.SIGSTOP)

    def heal(self, role: Role | str) -> None:
        """Undo cut, throttle and pause."""
        ns = self._server_ns(role)
        _run("ip", "-n", ns, "link", "set", "dev", "eth0", "up")
        _run("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
        pid = self._reload()["pids"].get(f"dhcpd-{Role.parse(role)}")
        if _pid_runs(pid, "dhcpd"):
            os.kill(pid, signal.SIGCONT)
        # the server's default route went with the link
        lay = self.layout
        _run("ip", "-n", ns, "route", "replace", "default", "via",
             str(lay.server_net(Role.parse(role)).broadcast_address - 1))

    # -- the library's view ---------------------------------------------------------------

    def config(self) -> Config:
        return load_config(self.config_path)

    def pair_config(self) -> PairConfig:
        return self.config().pairs[self.settings.peer_name]

    def endpoint(self, role: Role) -> Endpoint:
        return Endpoint(self.layout.server_addr(role), OMAPI_PORT)

    def key(self) -> OmapiKey:
        return OmapiKey("omapi_key", self.key_path.read_text().strip(), self.settings.algorithm)

    def wait_normal(self, timeout: float = 60.0) -> None:
        """Return when both servers report normal over OMAPI; else LabError with log tails."""
        self.wait_states(FailoverState.NORMAL, FailoverState.NORMAL, timeout)

    def wait_states(self, primary: FailoverState | None, secondary: FailoverState | None,
                    timeout: float = 60.0) -> None:
        """Wait until each given role's local state is as given (None: any)."""
        from .failover import FailoverPair  # operations layer; the lab drives the library

        deadline = time.monotonic() + timeout
        last = None
        with FailoverPair(self.pair_config()) as pair:
            while True:
                st = pair.state()
                last = (st.primary.local_state, st.secondary.local_state)
                if primary in (None, last[0]) and secondary in (None, last[1]):
                    return
                if time.monotonic() > deadline:
                    break
                time.sleep(0.25)
        want = f"primary {primary or 'any'}, secondary {secondary or 'any'}"
        raise LabError(f"lab {self.settings.prefix}: wanted {want} within {timeout:g} s; "
                       f"got primary {last[0]}, secondary {last[1]}\n" + self.log_tails())

    def log_tails(self, lines: int = 15) -> str:
        out = []
        for role in Role:
            try:
                tail = self.log_path(role).read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                tail = ["(no log)"]
            out.append(f"--- {self.log_path(role)} (last {lines} lines) ---\n" + "\n".join(tail))
        return "\n".join(out)

    # -- clients --------------------------------------------------------------------------

    def client(self, n: int, *, mac: str | None = None, timeout: float = 20.0) -> str:
        """One real DHCP exchange (dhclient) from client subnet ``n``; the bound address.

        ``dhclient -1 -sf /bin/true`` binds without touching the namespace's addresses;
        it stays running to renew, so it is ended by its pid once the lease is written.
        """
        if not 1 <= n <= CLIENT_SUBNETS:
            raise LabError(f"client subnet must be 1 to {CLIENT_SUBNETS}, not {n}")
        if mac:
            self._set_client_mac(n, mac)
        d = self.dir / "clients"
        d.mkdir(exist_ok=True)
        lease_file = d / f"c{n}.leases"
        lease_file.unlink(missing_ok=True)  # a fresh DISCOVER, not a reboot REQUEST
        key = f"dhclient-c{n}"
        self._reload()
        proc = self._spawn(key, self.ns(f"c{n}"),
                          ["dhclient", "-4", "-1", "-d", "-lf", str(lease_file), "-pf",
                           str(d / f"c{n}.own.pid"), "-sf", "/bin/true", "eth0"],
                          d / f"c{n}.log", d)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                found = re.findall(r"fixed-address ([0-9.]+);",
                                   lease_file.read_text() if lease_file.exists() else "")
                if found:
                    return found[-1]
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
            raise LabError(f"client {n} got no address within {timeout:g} s; "
                           f"see {d / f'c{n}.log'}")
        finally:
            _end_pid(proc.pid, "dhclient", grace=2)
            self.state["pids"].pop(key, None)
            self._save()
            if mac:
                self._set_client_mac(n, self.default_mac(n))

    # -- status and down ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        procs = {k: {"pid": pid, "running": _pid_runs(pid, k.split("-")[0])}
                 for k, pid in self._reload()["pids"].items()}
        return {"prefix": self.settings.prefix, "dir": str(self.dir),
                "slots": self.state["slots"], "namespaces": self.state["namespaces"],
                "processes": procs, "config": str(self.config_path)}

    def down(self) -> list[str]:
        """Remove exactly what ``up`` recorded; fine to run twice. Returns what it removed."""
        removed = []
        for key, pid in list(self._reload()["pids"].items()):
            program = key.split("-")[0]
            if _pid_runs(pid, program):
                removed.append(f"{program} pid {pid}")
            _end_pid(pid, program)
        existing = set(_run("ip", "netns", "list", check=False).stdout.split())
        for ns in self.state["namespaces"]:
            if ns in existing:
                _run("ip", "netns", "del", ns, check=False)
                removed.append(f"namespace {ns}")
        for link in self.state["links"]:
            if _run("ip", "link", "show", link, check=False).returncode == 0:
                _run("ip", "link", "del", link, check=False)  # its routes go with it
                removed.append(f"link {link}")
        self.record_path(self.settings.prefix).unlink(missing_ok=True)
        return removed


def down(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Take down the lab recorded under ``prefix``; nothing recorded is not an error."""
    try:
        lab = Lab.load(prefix)
    except LabError:
        return []
    return lab.down()
