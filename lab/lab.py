"""One lab (:class:`Lab`): build it, run its servers and clients, break it, take it down."""
from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from omapifo import (Config, Endpoint, FailoverPair, FailoverState, OmapiKey, PairConfig, Role,
                     load_config)

from . import network, processes, templates
from .command import run
from .errors import LabError
from .layout import CLIENT_SUBNETS, OMAPI_PORT, SLOTS, Layout
from .prerequisites import check_prerequisites
from .record import REGISTRY, LabRecord, recorded_slots, registry_lock
from .settings import DEFAULT_PREFIX, LabSettings, check_prefix


class Lab:
    """One lab, identified by its prefix; its record lives in /run/omapifo-lab/PREFIX.json.

    >>> lab = Lab.create(LabSettings(prefix="demo"), Path("/tmp/demo-lab"))
    >>> lab.up()                 # returns when both servers are normal over OMAPI
    >>> lab.client(1)            # one real DHCP exchange from client subnet 1
    '198.18.11.63'
    >>> lab.down()
    """

    def __init__(self, record: LabRecord) -> None:
        self.record = record

    @property
    def settings(self) -> LabSettings:
        return self.record.settings

    @property
    def dir(self) -> Path:
        return self.record.dir

    # -- record ---------------------------------------------------------------------------

    @staticmethod
    def record_path(prefix: str) -> Path:
        return LabRecord.path(prefix)

    @classmethod
    def create(cls, settings: LabSettings, directory: Path | None = None) -> Lab:
        """A lab not built yet; its directory defaults to /run/omapifo-lab/PREFIX."""
        check_prefix(settings.prefix)
        directory = (directory or REGISTRY / settings.prefix).resolve()
        return cls(LabRecord(prefix=settings.prefix, dir=directory, settings=settings,
                             owner=os.getpid()))

    @classmethod
    def load(cls, prefix: str = DEFAULT_PREFIX) -> Lab:
        """The lab recorded under ``prefix``; LabError if there is none."""
        try:
            record = LabRecord.load(prefix)
        except FileNotFoundError:
            raise LabError(f"no lab with prefix {prefix!r} (nothing in "
                           f"{LabRecord.path(prefix)}); start one with `omapifo lab up`") from None
        return cls(record)

    def _reload(self) -> LabRecord:
        """Re-read the record: another process (`omapifo lab start`) may have changed pids."""
        try:
            self.record = LabRecord.load(self.settings.prefix)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not recorded (yet, or any more): keep what this object knows
        return self.record

    def _save(self) -> None:
        self.record.save()

    @property
    def layout(self) -> Layout:
        if not self.record.slots:
            raise LabError(f"lab {self.settings.prefix!r} has no slot yet (not up)")
        return Layout(self.record.slots[0], self.settings.large_pool)

    def ns(self, name: str) -> str:
        return network.namespace(self.settings.prefix, name)

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
        with registry_lock():
            used = network.routed_slots() | recorded_slots()
            need = 2 if self.settings.large_pool else 1
            slot = next((s for s in range(0, SLOTS - need + 1)
                         if not {s, s + need - 1} & used), None)
            if slot is None:
                raise LabError("no free address slot in 198.18.0.0/15: take another lab down "
                               "first (`omapifo lab down --prefix ...`)")
            self.record.slots = list(range(slot, slot + need))
            self._save()  # claims the slot before the lock is released
        self.dir.mkdir(parents=True, exist_ok=True)
        self._build_network()
        self._write_configuration()
        self._start_relay()
        for role in Role:
            self.start(role, wait=False)
        self.wait_normal(timeout)

    def _build_network(self) -> None:
        network.build(self.record, self.layout)

    def default_mac(self, n: int) -> str:
        return self.layout.client_mac(n)

    def _set_client_mac(self, n: int, mac: str) -> None:
        network.set_mac(self.ns(f"c{n}"), mac)

    # -- configuration (the seed's way) ---------------------------------------------------

    def failover_block(self, role: Role) -> str:
        """The seed's dhcpd.conf-failover-<role>, with lab addresses and quick timers."""
        return templates.failover_block(self.settings, self.layout, role)

    def master_conf(self, role: Role, secret: str) -> str:
        return templates.master_conf(self.settings, self.layout, role, secret)

    def write_omapifo_toml(self) -> None:
        """Write the lab's omapifo.toml (``up`` does; it needs no root or running lab)."""
        self.config_path.write_text(templates.omapifo_toml(
            self.settings, self.layout, lock_dir=self.dir / "locks",
            key_file=self.key_path.name,
            dhcpd_confs={r: str(self.conf_path(r).relative_to(self.dir)) for r in Role},
            dhcpd_leases={r: str(self.leases_path(r).relative_to(self.dir)) for r in Role}))

    def _write_configuration(self) -> None:
        if self.key_path.exists():  # put there before `up` (omapifo keygen): used as is
            secret = self.key_path.read_text().strip()
        else:
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
        self.write_omapifo_toml()
        for role in Role:
            # dhcpd resolves a relative include against its working directory, not
            # the including file (measured with 4.4.3): test it from where it runs.
            proc = run("dhcpd", "-4", "-t", "-cf", "dhcpd.conf", check=False,
                       cwd=self.server_dir(role))
            if proc.returncode != 0:
                raise LabError(f"dhcpd -t rejects the {role}'s configuration "
                               f"{self.conf_path(role)}:\n{proc.stderr.strip()}")

    # -- processes ------------------------------------------------------------------------

    def _spawn(self, key: str, ns: str, argv: list[str], log: Path,
               cwd: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``ns``, its pid recorded under ``key`` and in DIR/KEY.pid."""
        def record_pid(pid: int) -> None:
            self.record.pids[key] = pid
            self._save()

        return processes.spawn(ns, argv, log, cwd, self.dir / f"{key}.pid", record_pid)

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
        if processes.pid_runs(self._reload().pids.get(key), "dhcpd"):
            raise LabError(f"the {role} is already running (pid {self.record.pids[key]})")
        d = self.server_dir(role)
        own_pid = d / "dhcpd.own.pid"
        processes.remove_stale_pid_file(own_pid, "dhcpd")
        pid = self._spawn(key, self._server_ns(role),
                          ["dhcpd", "-4", "-f", "-d", "-cf", "dhcpd.conf", "-lf",
                           "dhcpd.leases", "-pf", str(own_pid), "eth0"],
                          self.log_path(role), d).pid
        if wait:
            self.wait_normal(timeout)
        return pid

    def stop(self, role: Role | str) -> None:
        """Stop one server as the seed does (``kill `cat dhcpd.pid```): SIGTERM by its pid."""
        processes.end_pid(self._reload().pids.get(f"dhcpd-{Role.parse(role)}"), "dhcpd")

    def running(self, role: Role | str) -> bool:
        return processes.pid_runs(self._reload().pids.get(f"dhcpd-{Role.parse(role)}"),
                                  "dhcpd")

    # -- faults (for the reliability tests) ---------------------------------------------

    def _server_ns(self, role: Role | str) -> str:
        return network.server_namespace(self.settings.prefix, role)

    def cut(self, role: Role | str) -> None:
        """Cut a server off without stopping it: its only link goes down."""
        network.cut(self._server_ns(role))

    def partition(self) -> None:
        """Cut the two servers off from each other only; both stay reachable from here."""
        network.partition(self.settings.prefix, self.layout)

    def mend(self) -> None:
        """Undo :meth:`partition` (fine to call when there is none)."""
        network.mend(self.settings.prefix, self.layout)

    def _filter_ns(self, where: Role | str) -> tuple[str, str]:
        """The namespace and hook of a firewall on ``where``: a server's host (input) or
        the router ("router", forward: what a router on the way rejects)."""
        if where == "router":
            return self.ns("rtr"), "forward"
        return self._server_ns(where), "input"

    def filter(self, where: Role | str, rule: str) -> None:
        """Put an nftables rule on a server's host (``where`` a role: its input chain) or
        on the router (``where`` "router": its forward chain), e.g.
        ``lab.filter("primary", "tcp dport 7911 reject")``; undone by :meth:`unfilter`,
        :meth:`heal`, or taking the lab down (the rules live in its namespaces)."""
        ns, hook = self._filter_ns(where)
        network.filter_(ns, rule, hook)

    def unfilter(self, where: Role | str | None = None) -> None:
        """Remove the rules :meth:`filter` put on ``where`` (None: everywhere)."""
        places: list[Role | str] = [*Role, "router"] if where is None else [where]
        for place in places:
            network.unfilter(self._filter_ns(place)[0])

    def filters(self, where: Role | str) -> str:
        """The rules :meth:`filter` put on ``where``, as nft lists them ("" if none)."""
        return network.filters(self._filter_ns(where)[0])

    def throttle(self, role: Role | str, rate: str = "16kbit") -> None:
        """Make a server slow to reach: its link is rate-limited (see network.throttle)."""
        network.throttle(self._server_ns(role), rate)

    def pause(self, role: Role | str) -> None:
        """Freeze a server's dhcpd (SIGSTOP): it accepts connections but never answers."""
        processes.freeze(self._reload().pids.get(f"dhcpd-{Role.parse(role)}"), "dhcpd")

    def heal(self, role: Role | str) -> None:
        """Undo cut, throttle, pause and the filters on its host."""
        role = Role.parse(role)
        network.restore(self._server_ns(role), self.layout.server_gateway(role))
        self.unfilter(role)
        processes.thaw(self._reload().pids.get(f"dhcpd-{role}"), "dhcpd")

    # -- the library's view ---------------------------------------------------------------

    def config(self) -> Config:
        return load_config(self.config_path)

    def pair_config(self, peer: str | None = None) -> PairConfig:
        """The pair of failover peer ``peer`` (default: the seed's, ``peer_name``)."""
        return self.config().pairs[peer or self.settings.peer_name]

    def endpoint(self, role: Role) -> Endpoint:
        return Endpoint(self.layout.server_addr(role), OMAPI_PORT)

    def key(self) -> OmapiKey:
        return OmapiKey(templates.KEY_NAME, self.key_path.read_text().strip(),
                        self.settings.algorithm)

    def wait_normal(self, timeout: float = 60.0) -> None:
        """Return when both servers report normal over OMAPI, for every failover peer of
        the lab; else LabError with log tails."""
        deadline = time.monotonic() + timeout
        for peer in self.settings.peer_names:
            self.wait_states(FailoverState.NORMAL, FailoverState.NORMAL,
                             max(deadline - time.monotonic(), 0.0), peer=peer)

    def wait_states(self, primary: FailoverState | None, secondary: FailoverState | None,
                    timeout: float = 60.0, *, peer: str | None = None) -> None:
        """Wait until each given role's local state is as given (None: any), in failover
        peer ``peer``'s relationship (default: the seed's)."""
        deadline = time.monotonic() + timeout
        last = None
        with FailoverPair(self.pair_config(peer)) as pair:
            while True:
                st = pair.state()
                last = (st.primary.local_state, st.secondary.local_state)
                if primary in (None, last[0]) and secondary in (None, last[1]):
                    return
                if time.monotonic() > deadline:
                    break
                time.sleep(0.25)
        want = f"primary {primary or 'any'}, secondary {secondary or 'any'}"
        raise LabError(f"lab {self.settings.prefix}: wanted {want} within {timeout:g} s "
                       f"(failover peer {peer or self.settings.peer_name}); got primary "
                       f"{last[0]}, secondary {last[1]}\n" + self.log_tails())

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

    def client(self, n: int, *, mac: str | None = None, timeout: float = 20.0,
               host_name: bytes | None = None) -> str:
        """One real DHCP exchange (dhclient) from client subnet ``n``; the bound address.

        ``dhclient -1 -sf /bin/true`` binds without touching the namespace's addresses;
        it stays running to renew, so it is ended by its pid once the lease is written.
        ``host_name``: the bytes the client sends as its host-name (option 12), any bytes
        (written to a dhclient.conf as octal escapes, which ISC's config lexer reads:
        measured, dhcpd's lease object then held the raw bytes); default: this host's name
        (Debian's /etc/dhcp/dhclient.conf).
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
        conf: list[str] = []
        if host_name is not None:
            (d / f"c{n}.conf").write_text(
                'send host-name "' + "".join(f"\\{b:03o}" for b in host_name) + '";\n')
            conf = ["-cf", str(d / f"c{n}.conf")]
        self._reload()
        proc = self._spawn(key, self.ns(f"c{n}"),
                           ["dhclient", "-4", "-1", "-d", *conf, "-lf", str(lease_file), "-pf",
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
            processes.end_pid(proc.pid, "dhclient", grace=2)
            self.record.pids.pop(key, None)
            self._save()
            if mac:
                self._set_client_mac(n, self.default_mac(n))

    # -- status and down ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        procs = {k: {"pid": pid, "running": processes.pid_runs(pid, k.split("-")[0])}
                 for k, pid in self._reload().pids.items()}
        return {"prefix": self.settings.prefix, "dir": str(self.dir),
                "slots": self.record.slots, "namespaces": self.record.namespaces,
                "processes": procs, "config": str(self.config_path)}

    def down(self) -> list[str]:
        """Remove exactly what ``up`` recorded; fine to run twice. Returns what it removed."""
        removed = []
        for key, pid in list(self._reload().pids.items()):
            program = key.split("-")[0]
            if processes.pid_runs(pid, program):
                removed.append(f"{program} pid {pid}")
            processes.end_pid(pid, program)
        removed += network.remove(self.record)
        self.record.delete()
        return removed


def down(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Take down the lab recorded under ``prefix``; nothing recorded is not an error."""
    try:
        lab = Lab.load(prefix)
    except LabError:
        return []
    return lab.down()
