"""The lab's network: namespaces, veth links, addresses and routes, and the link faults.

Layout (slot 0; the seed's 192.168.10.x / 192.168.60.x become 198.18.10.x / 198.18.60.x)::

    root ns --{prefix}-m-- rtr (198.18.0.2/30, forwards, runs dhcrelay)
                            ├── p  198.18.10.254 ── pri eth0 198.18.10.253  dhcpd primary
                            ├── s  198.18.60.254 ── sec eth0 198.18.60.253  dhcpd secondary
                            └── cN 198.18.1N.254 ── cN  eth0 (no address)   dhclient, N = 1..4

The root namespace gets one link and one route per lab, so OMAPI is reachable from
the test process. Each namespace and link is written to the lab's record before it is
made, so :func:`remove` takes away exactly what :func:`build` made, even half-way.
"""
from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path

from omapifo import Role

from .command import run
from .errors import LabError
from .layout import CLIENT_SUBNETS, SLOTS, Layout
from .record import LabRecord


def namespace(prefix: str, name: str) -> str:
    """The full name of the lab's namespace ``name`` ("rtr", "pri", "sec", "c1".."c4")."""
    return f"{prefix}-{name}"


def server_namespace(prefix: str, role: Role | str) -> str:
    return namespace(prefix, "pri" if Role.parse(role) is Role.PRIMARY else "sec")


def mgmt_link(prefix: str) -> str:
    """The lab's one link in the root namespace."""
    return f"{prefix}-m"


def existing_namespaces() -> set[str]:
    return set(run("ip", "netns", "list", check=False).stdout.split())


def routed_slots() -> set[int]:
    """Slots whose /18 the root namespace already routes or addresses (another lab, or
    anything else on this machine)."""
    used: set[int] = set()
    routes = json.loads(run("ip", "-4", "-j", "route", "show", "table", "all").stdout or "[]")
    addrs = json.loads(run("ip", "-4", "-j", "addr", "show").stdout or "[]")
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
    return used


def _add_namespace(record: LabRecord, name: str) -> str:
    full = namespace(record.prefix, name)
    if full in run("ip", "netns", "list").stdout.split():
        raise LabError(f"network namespace {full} already exists and is not this lab's; "
                       "remove it or choose another --prefix")
    record.namespaces.append(full)
    record.save()
    run("ip", "netns", "add", full)
    run("ip", "-n", full, "link", "set", "lo", "up")
    return full


def _veth(ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
    run("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b,
        "netns", ns_b)
    for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
        run("ip", "-n", ns, "link", "set", "dev", ifname, "up")


def set_mac(ns: str, mac: str) -> None:
    """Give the client namespace ``ns``'s eth0 the hardware address ``mac``."""
    run("ip", "-n", ns, "link", "set", "eth0", "down")
    run("ip", "-n", ns, "link", "set", "eth0", "address", mac)
    run("ip", "-n", ns, "link", "set", "eth0", "up")


def build(record: LabRecord, layout: Layout) -> None:
    """Make the lab's namespaces, links, addresses and routes (the picture above)."""
    prefix = record.prefix
    rtr = namespace(prefix, "rtr")
    for name in ("rtr", "pri", "sec", *(f"c{n}" for n in range(1, CLIENT_SUBNETS + 1))):
        _add_namespace(record, name)
    run("ip", "netns", "exec", rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for role in Role:
        ns, gateway = server_namespace(prefix, role), layout.server_gateway(role)
        short = "p" if role is Role.PRIMARY else "s"
        _veth(rtr, short, ns, "eth0")
        run("ip", "-n", rtr, "addr", "add", f"{gateway}/24", "dev", short)
        run("ip", "-n", ns, "addr", "add", f"{layout.server_addr(role)}/24", "dev", "eth0")
        if record.settings.second_peer:  # the second failover peer's own address
            run("ip", "-n", ns, "addr", "add", f"{layout.failover_addr(role, 1)}/24", "dev",
                "eth0")
        run("ip", "-n", ns, "route", "add", "default", "via", gateway)
    for n in range(1, CLIENT_SUBNETS + 1):
        net = layout.client_net(n)
        _veth(rtr, f"c{n}", namespace(prefix, f"c{n}"), "eth0")
        run("ip", "-n", rtr, "addr", "add", f"{layout.client_gateway(n)}/{net.prefixlen}",
            "dev", f"c{n}")
        set_mac(namespace(prefix, f"c{n}"), layout.client_mac(n))
    # The one link into the root namespace, so OMAPI is reachable from here.
    mgmt = mgmt_link(prefix)
    if run("ip", "link", "show", mgmt, check=False).returncode == 0:
        raise LabError(f"link {mgmt} already exists and is not this lab's")
    record.links.append(mgmt)
    record.save()
    run("ip", "link", "add", mgmt, "type", "veth", "peer", "name", "mgmt", "netns", rtr)
    run("ip", "addr", "add", f"{layout.root_mgmt}/30", "dev", mgmt)
    run("ip", "link", "set", mgmt, "up")
    run("ip", "-n", rtr, "addr", "add", f"{layout.rtr_mgmt}/30", "dev", "mgmt")
    run("ip", "-n", rtr, "link", "set", "dev", "mgmt", "up")
    if record.settings.probe_subnet:
        # The relay address sits on this host's link (a monitoring host's, in production);
        # the router sends the servers' answers to it back over the link. It is inside the
        # slot's block, so the route below must not take it: the /24 on the link wins.
        run("ip", "addr", "add", f"{layout.probe_giaddr}/24", "dev", mgmt)
        run("ip", "-n", rtr, "route", "add", str(layout.probe_net), "via", layout.root_mgmt,
            "dev", "mgmt")
    for block in layout.blocks:
        run("ip", "route", "replace", str(block), "via", layout.rtr_mgmt, "dev", mgmt)


def remove(record: LabRecord) -> list[str]:
    """Delete the recorded namespaces and links that still exist; what was removed."""
    removed = []
    existing = existing_namespaces()
    for ns in record.namespaces:
        if ns in existing:
            run("ip", "netns", "del", ns, check=False)
            removed.append(f"namespace {ns}")
    for link in record.links:
        if run("ip", "link", "show", link, check=False).returncode == 0:
            run("ip", "link", "del", link, check=False)  # its routes go with it
            removed.append(f"link {link}")
    return removed


# -- link faults (for the reliability tests) ----------------------------------------------

def cut(ns: str) -> None:
    """Cut a server off without stopping it: its only link goes down."""
    run("ip", "-n", ns, "link", "set", "dev", "eth0", "down")


def throttle(ns: str, rate: str) -> None:
    """Make a server slow to reach: its link is rate-limited (tc tbf).

    tc netem would add a plain delay, but this kernel has no sch_netem
    (CONFIG_NET_SCH_NETEM is not set, measured); a token bucket that holds packets
    up to 5 s delays every answer instead, which is what a slow peer looks like.
    """
    run("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
        "rate", rate, "burst", "1600", "latency", "5s")


def restore(ns: str, gateway: str) -> None:
    """Undo :func:`cut` and :func:`throttle` (fine when neither was done)."""
    run("ip", "-n", ns, "link", "set", "dev", "eth0", "up")
    run("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
    # the server's default route went with the link
    run("ip", "-n", ns, "route", "replace", "default", "via", gateway)


# nftables: the lab's own table in a namespace (a firewall on a server's host, or on the
# router). A namespace has a ruleset of its own and takes it along when it is deleted, so
# :func:`remove` needs no record of the rules; :func:`unfilter` takes them away earlier.
FILTER_TABLE = "omapifo_lab"
_HOOKS = ("input", "forward", "output")


def _nft(ns: str, *args: str, check: bool = True) -> None:
    if shutil.which("nft") is None and not Path("/usr/sbin/nft").exists():
        raise LabError("nft is missing: `apt-get install nftables` (or `make apt`)")
    run("ip", "netns", "exec", ns, "nft", *args, check=check)


def filter_(ns: str, rule: str, hook: str = "input") -> None:
    """Add one nftables rule (``rule`` as nft(8) reads it, e.g. "tcp dport 7911 reject")
    to the lab's table in namespace ``ns``, in a chain on ``hook`` ("input" on a server's
    host, "forward" on the router)."""
    if hook not in _HOOKS:
        raise LabError(f"nftables hook {hook!r}: use one of {', '.join(_HOOKS)}")
    _nft(ns, "add", "table", "inet", FILTER_TABLE)
    _nft(ns, "add", "chain", "inet", FILTER_TABLE, hook,
         f"{{ type filter hook {hook} priority 0 ; policy accept ; }}")
    _nft(ns, "add", "rule", "inet", FILTER_TABLE, hook, rule)


def unfilter(ns: str) -> None:
    """Remove the lab's nftables table from ``ns`` (fine when there is none)."""
    if run("ip", "netns", "exec", ns, "nft", "list", "table", "inet", FILTER_TABLE,
           check=False).returncode == 0:
        _nft(ns, "delete", "table", "inet", FILTER_TABLE)


def filters(ns: str) -> str:
    """The lab's nftables rules in ``ns`` as nft lists them ("" when there are none)."""
    got = run("ip", "netns", "exec", ns, "nft", "list", "table", "inet", FILTER_TABLE,
              check=False)
    return got.stdout if got.returncode == 0 else ""


def _partition_rules(prefix: str, layout: Layout, action: str, check: bool) -> None:
    # the second failover peer's addresses too (unused, and harmless, without one)
    for index in (0, 1):
        a, b = (layout.failover_addr(role, index) for role in Role)
        for src, dst in ((a, b), (b, a)):
            run("ip", "-n", namespace(prefix, "rtr"), "rule", action, "from", src, "to",
                dst, "blackhole", check=check)


def partition(prefix: str, layout: Layout) -> None:
    """Cut the two servers off from each other only; both stay reachable from here.

    A blackhole policy rule in the router namespace drops what one server sends the
    other (facts file, measured); it needs no firewall tool."""
    _partition_rules(prefix, layout, "add", check=True)


def mend(prefix: str, layout: Layout) -> None:
    """Undo :func:`partition` (fine to call when there is none)."""
    _partition_rules(prefix, layout, "del", check=False)
