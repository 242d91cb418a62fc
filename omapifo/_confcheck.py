"""Check a failover *pair* of dhcpd configurations against each other.

Most failover trouble is a configuration that disagrees with its partner's, or a pool
the failover does not cover. Each finding has a stable code (docs/config-check.md), a
severity, file:line and a hint. The rules follow dhcpd.conf(5), THE FAILOVER PROTOCOL.
"""
from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ._dhcpdconf import DhcpdConf, DhcpdConfError, FailoverPeer, Loc, Pool, Range, parse_file
from ._severity import Level


@dataclass(frozen=True)
class Finding:
    """One configuration finding. ``severity`` is on the same scale as a pair's health:
    CRITICAL (failover or dhcpd breaks: fix it), WARNING (it works, but it is a risk or a
    trap), INFO (worth knowing, nothing to change); never OK."""

    code: str
    severity: Level
    message: str
    hint: str
    file: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")

    def __str__(self) -> str:
        return f"{self.where}: {self.severity} {self.code}: {self.message} ({self.hint})"


def _f(code: str, severity: Level, message: str, hint: str, loc: Loc | None = None,
       file: str | None = None) -> Finding:
    return Finding(code, severity, message, hint, loc.file if loc else file,
                   loc.line if loc else None)


def worst(findings: list[Finding]) -> Level:
    """The most severe finding's level; OK when there is none."""
    return max((f.severity for f in findings), default=Level.OK)


def _dhcpd_test(path: Path) -> Finding | None:
    """dhcpd's own verdict, run from the file's directory as dhcpd resolves includes."""
    dhcpd = shutil.which("dhcpd") or ("/usr/sbin/dhcpd" if Path("/usr/sbin/dhcpd").exists()
                                      else None)
    if dhcpd is None:
        return None
    try:
        proc = subprocess.run([dhcpd, "-4", "-t", "-cf", path.name], cwd=path.parent,
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return _f("DT001", Level.CRITICAL, "dhcpd -t did not finish within 30 s", "run it by hand",
                  file=str(path))
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.splitlines() if "line" in ln or "rror" in ln]
    return _f("DT001", Level.CRITICAL, "dhcpd -t rejects this file: " + "; ".join(lines[:3]),
              f"run: cd {path.parent} && dhcpd -t -cf {path.name}", file=str(path))


def _peer_blocks(primary: DhcpdConf, secondary: DhcpdConf,
                 findings: list[Finding]) -> list[tuple[FailoverPeer, FailoverPeer]]:
    """The failover peer blocks to compare, as (primary's, secondary's) pairs.

    dhcpd allows several ``failover peer`` blocks between the same two servers (each its
    own pair, dhcpd.conf(5) THE FAILOVER PROTOCOL): blocks are matched by name. With one
    block on each side they are compared whatever their names (FO001 says when those
    differ); a name declared on one side only is FO001 too.
    """
    confs = {"primary": primary, "secondary": secondary}
    for role, conf in confs.items():
        if not conf.failover_peers:
            findings.append(_f("FO010", Level.CRITICAL,
                               f"the {role}'s configuration declares no failover "
                               "peer", "add a failover peer block (include the seed's "
                               "dhcpd.conf-failover)", file=str(conf.path)))
    p, s = primary.failover_peers, secondary.failover_peers
    if not p or not s:
        return []
    if len(p) == 1 and len(s) == 1:
        return [(next(iter(p.values())), next(iter(s.values())))]
    for mine, other in (("primary", "secondary"), ("secondary", "primary")):
        for name, blk in confs[mine].failover_peers.items():
            if name not in confs[other].failover_peers:
                findings.append(_f("FO001", Level.CRITICAL,
                                   f"the failover peer {name!r} is declared on the {mine} "
                                   f"but not on the {other}", "declare the same failover "
                                   "peers, with the same names, on both servers", blk.loc))
    return [(p[name], s[name]) for name in p if name in s]


def check_configs(primary_conf: DhcpdConf, secondary_conf: DhcpdConf) -> list[Finding]:
    """Findings of two parsed configurations (no dhcpd -t)."""
    findings: list[Finding] = []
    confs = {"primary": primary_conf, "secondary": secondary_conf}
    for role, conf in confs.items():
        for inc in conf.includes:
            other = "secondary" if role == "primary" else "primary"
            if inc.symlink_target and other in inc.symlink_target and "failover" in inc.path:
                findings.append(_f("IN002", Level.CRITICAL,
                                   f"on the {role}, {inc.path} is a symlink to "
                                   f"{inc.symlink_target}: the other role's file",
                                   f"ln -sf dhcpd.conf-failover-{role} {inc.path}", inc.loc))
        if conf.omapi_port is None:
            findings.append(_f("OM001", Level.WARNING, f"OMAPI is not enabled on the {role}",
                               "add omapi-port 7911; and an omapi-key (omapifo and omshell "
                               "need it)", file=str(conf.path)))
        elif conf.omapi_key is None or conf.omapi_key.value not in conf.keys:
            findings.append(_f("OM002", Level.CRITICAL,
                               f"OMAPI is enabled on the {role} without a key: "
                               "anyone who reaches the port can change leases and failover "
                               "state", "declare key NAME { algorithm hmac-sha256; secret "
                               '"..."; } and omapi-key NAME;', conf.omapi_port.loc))
    for p, s in _peer_blocks(primary_conf, secondary_conf, findings):
        findings += _check_peers(p, s)
    for role, conf in confs.items():
        findings += _check_pools(role, conf)
    findings += _compare_pools(primary_conf, secondary_conf)
    return findings


def _check_peers(p: FailoverPeer, s: FailoverPeer) -> list[Finding]:
    out: list[Finding] = []
    if p.name != s.name:
        out.append(_f("FO001", Level.CRITICAL,
                      f"the failover peer is named {p.name!r} on the primary "
                      f"and {s.name!r} on the secondary", "use the same name on both", s.loc))
    for role, blk, want in (("primary", p, "primary"), ("secondary", s, "secondary")):
        if blk.role != want:
            out.append(_f("FO003", Level.CRITICAL, f"the {role}'s failover block says "
                          f"{blk.role or 'neither primary nor secondary'}",
                          f"one server says primary; the other secondary: put {want}; here",
                          blk.loc))
    for me, other, my_role in ((p, s, "primary"), (s, p, "secondary")):
        for mine, theirs in (("address", "peer address"), ("port", "peer port")):
            if me.get(mine) != other.get(theirs):
                loc = (me.statements.get(mine) or me.statements.get(theirs))
                out.append(_f("FO002", Level.CRITICAL,
                              f"the {my_role}'s {mine} is {me.get(mine)}, but "
                              f"its partner's {theirs} is {other.get(theirs)}",
                              "the two blocks must mirror each other",
                              loc.loc if loc else me.loc))
    if p.get("split") is None and p.get("hba") is None:
        out.append(_f("FO004", Level.CRITICAL, "the primary has neither split nor hba",
                      "add split 128; to the primary's failover block", p.loc))
    if p.get("mclt") is None:
        out.append(_f("FO005", Level.CRITICAL, "the primary has no mclt", "add mclt 3600; to the "
                      "primary's failover block", p.loc))
    for key in ("mclt", "split", "hba"):
        if s.get(key) is not None:
            # dhcpd 4.4.3's -t accepts these on a secondary (measured), but the failover
            # protocol takes them from the primary: a second value only misleads readers.
            out.append(_f("FO006", Level.WARNING, f"the secondary sets {key}, which only the "
                          "primary's value decides", f"remove {key} from the secondary (the "
                          "seed: 'split and mclt inherited from primary server')",
                          s.statements[key].loc))
    split = p.int("split")
    # dhcpd 4.4.3: "split must be between 0 and 256, inclusive" (measured with -t)
    if p.get("split") is not None and (split is None or not 0 <= split <= 256):
        out.append(_f("FO007", Level.CRITICAL, f"split {p.get('split')} is outside 0-256",
                      "split 128 shares the free addresses evenly", p.statements["split"].loc))
    mclt = p.int("mclt")
    if mclt is not None and mclt < 3600:
        out.append(_f("FO008", Level.INFO,
                      f"mclt {mclt} is short: fine for a lab or a demonstration "
                      "(the seed uses 300), production usually uses 3600",
                      "a short mclt means short leases while the partner is down",
                      p.statements["mclt"].loc))
    for key in ("max-response-delay", "max-unacked-updates", "load balance max seconds"):
        a, b = p.get(key), s.get(key)
        if a is None or b is None:
            missing = "primary" if a is None else "secondary"
            severity = Level.WARNING if key == "load balance max seconds" else Level.CRITICAL
            out.append(_f("FO009", severity, f"{key} is missing on the {missing}",
                          f"set {key} on both servers", (p if a is None else s).loc))
        elif a != b:
            out.append(_f("FO011", Level.WARNING, f"{key} is {a} on the primary and {b} on the "
                          "secondary", "use the same value on both", s.statements[key].loc))
    return out


def _check_pools(role: str, conf: DhcpdConf) -> list[Finding]:
    out: list[Finding] = []
    declared = set(conf.failover_peers)
    ranges: list[tuple[Range, ipaddress.IPv4Network | None]] = []
    for pool in conf.pools:
        if conf.failover_peers and pool.failover_peer is None:
            out.append(_f("PL001", Level.CRITICAL,
                          f"on the {role}, pool {pool.name} has no failover "
                          "peer: both servers would hand out its addresses independently",
                          "add failover peer \"NAME\"; to the pool", pool.loc))
        elif pool.failover_peer is not None and pool.failover_peer not in declared:
            out.append(_f("PL002", Level.CRITICAL,
                          f"on the {role}, pool {pool.name} refers to failover "
                          f"peer {pool.failover_peer!r}, which is not declared",
                          "fix the name, or declare the peer", pool.failover_peer_loc))
        if pool.failover_peer is not None and not any(
                "bootp" in p and p.startswith("deny") for p in pool.permits):
            out.append(_f("PL005", Level.WARNING,
                          f"on the {role}, failover pool {pool.name} does not "
                          "deny dynamic bootp clients (BOOTP leases cannot be shared in "
                          "failover)", "add deny dynamic bootp clients; to the pool", pool.loc))
        ranges += [(r, pool.subnet) for r in pool.ranges]
    for sub in conf.subnets:
        ranges += [(r, sub.network) for r in sub.ranges]
    for r, net in ranges:
        if net is not None and not (r.first in net and r.last in net):
            out.append(_f("RG001", Level.CRITICAL,
                          f"on the {role}, range {r.first}-{r.last} is outside "
                          f"its subnet {net}", "move the range or fix the subnet", r.loc))
    flat = sorted((r for r, _ in ranges), key=lambda r: int(r.first))
    for a, b in zip(flat, flat[1:], strict=False):
        if int(b.first) <= int(a.last):
            out.append(_f("RG002", Level.CRITICAL, f"on the {role}, ranges {a.first}-{a.last} and "
                          f"{b.first}-{b.last} overlap", "each address in one range only", b.loc))
    for host in conf.hosts:
        for fixed in host.fixed_addresses:
            try:
                ip = ipaddress.IPv4Address(fixed)
            except ValueError:
                continue  # a host name: resolved by dhcpd at run time
            if any(ip in r for r, _ in ranges):
                out.append(_f("RG003", Level.WARNING, f"on the {role}, host {host.name}'s "
                              f"fixed-address {ip} lies in a dynamic range",
                              "take it out of the range, or the address can be given twice",
                              host.loc))
    return out


def _compare_pools(primary: DhcpdConf, secondary: DhcpdConf) -> list[Finding]:
    def by_subnet(conf: DhcpdConf) -> dict[str, tuple[set[tuple[str, str]], Pool]]:
        out: dict[str, tuple[set[tuple[str, str]], Pool]] = {}
        for pool in conf.pools:
            key = str(pool.subnet or pool.shared_network)
            ranges, first = out.get(key, (set(), pool))
            out[key] = (ranges | {(str(r.first), str(r.last)) for r in pool.ranges}, first)
        return out

    out: list[Finding] = []
    p, s = by_subnet(primary), by_subnet(secondary)
    for key in sorted(set(p) | set(s)):
        if key not in s or key not in p:
            have, pool = ("primary", p[key][1]) if key in p else ("secondary", s[key][1])
            out.append(_f("PL003", Level.CRITICAL, f"subnet {key} has pools on the {have} only",
                          "both servers need the same pools", pool.loc))
        elif p[key][0] != s[key][0]:
            out.append(_f("PL004", Level.CRITICAL,
                          f"the pools of subnet {key} have different ranges: "
                          f"primary {sorted(p[key][0])}, secondary {sorted(s[key][0])}",
                          "use the same ranges on both", s[key][1].loc))
    return out


def check_pair(primary_path: str | Path, secondary_path: str | Path, *,
               run_dhcpd: bool = True) -> list[Finding]:
    """Read both configurations (with includes) and report every finding."""
    findings: list[Finding] = []
    parsed: dict[str, DhcpdConf] = {}
    for role, path in (("primary", Path(primary_path)), ("secondary", Path(secondary_path))):
        try:
            parsed[role] = parse_file(path)
        except DhcpdConfError as exc:
            code = "IN001" if "cannot read" in str(exc) else "CF001"
            findings.append(Finding(code, Level.CRITICAL,
                                    f"the {role}'s configuration cannot be read: "
                                    f"{exc}", "fix the file; nothing else was checked",
                                    str(path)))
        if run_dhcpd and role in parsed:
            verdict = _dhcpd_test(path)
            if verdict:
                findings.append(verdict)
    if len(parsed) == 2:
        findings += check_configs(parsed["primary"], parsed["secondary"])
    return findings
