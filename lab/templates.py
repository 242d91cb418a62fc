"""The files a lab is configured with, the seed's way: dhcpd.conf, the failover blocks,
and the omapifo.toml that describes the pair (one per failover peer) for every other
omapifo command.

Each server's directory holds both ``dhcpd.conf-failover-<role>`` blocks, the symlink
``dhcpd.conf-failover`` to its own, and ``dhcpd.conf``, which includes it. The timers
are shorter than the seed's so that failures and recoveries show within seconds.
"""
from __future__ import annotations

from pathlib import Path

from omapifo import Role

from .layout import CLIENT_SUBNETS, OMAPI_PORT, Layout
from .settings import SECOND_PEER_NAME, LabSettings

KEY_NAME = "omapi_key"
# (primary's port, secondary's port) of each failover peer: the seed's, then the second
# peer's (LabSettings.second_peer) on ports of its own
PEER_PORTS = {0: (519, 520), 1: (647, 648)}
SECOND_PEER_SUBNETS = (3,)  # client subnets whose pool names the second peer


def subnet_peer(settings: LabSettings, n: int) -> str:
    """The failover peer client subnet ``n``'s pool names."""
    if settings.second_peer and n in SECOND_PEER_SUBNETS:
        return SECOND_PEER_NAME
    return settings.peer_name


def failover_block(settings: LabSettings, layout: Layout, role: Role) -> str:
    """The seed's dhcpd.conf-failover-<role>, with lab addresses and quick timers (and
    the second peer's block after it, with ``second_peer``)."""
    return "\n".join(_peer_block(settings, layout, role, i, name)
                     for i, name in enumerate(settings.peer_names))


def _peer_block(settings: LabSettings, layout: Layout, role: Role, index: int,
                name: str) -> str:
    s = settings
    me, peer = layout.failover_addr(role, index), layout.failover_addr(role.other, index)
    port, peer_port = PEER_PORTS[index]
    if role is Role.SECONDARY:
        port, peer_port = peer_port, port
    lines = [f'failover peer "{name}" {{', f"    {role};", "",
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


def master_conf(settings: LabSettings, layout: Layout, role: Role, secret: str) -> str:
    """A server's dhcpd.conf: OMAPI with the lab's key, the failover include, the pools."""
    s, lay = settings, layout
    out = [f"# omapifo lab {s.prefix}: the {role} of failover pair \"{s.peer_name}\"",
           "# (the seed's classroom exercise; written by `omapifo lab up`)",
           "authoritative;", "ddns-update-style none;",
           f"default-lease-time {s.lease_time};", f"max-lease-time {s.lease_time * 2};",
           "", f"omapi-port {OMAPI_PORT};",
           f'key {KEY_NAME} {{ algorithm {s.algorithm}; secret "{secret}"; }}',
           f"omapi-key {KEY_NAME};", "",
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
                f'        failover peer "{subnet_peer(s, n)}";',
                f"        range {low} {high};", "    }", "}"]
    if s.probe_subnet:
        net = lay.probe_net
        low, high = lay.probe_range()
        out += ["", "# the probe subnet: the monitoring host's relay address is in it",
                f"subnet {net.network_address} netmask {net.netmask} {{",
                f'    pool {{ failover peer "{s.peer_name}"; range {low} {high}; }}', "}"]
    return "\n".join(out) + "\n"


def omapifo_toml(settings: LabSettings, layout: Layout, *, lock_dir: Path, key_file: str,
                 dhcpd_confs: dict[Role, str], dhcpd_leases: dict[Role, str]) -> str:
    """The lab's omapifo.toml; ``key_file``, ``dhcpd_confs`` and ``dhcpd_leases`` relative
    to its directory.

    ``lock_dir`` is a directory of the lab's own: labs side by side never share a pair
    lock."""
    # Written with a TOML library, not f-strings: a directory or name with a quote or a
    # backslash in it still gives a file that says what it means.
    s = settings
    doc = {
        "lock_dir": str(lock_dir),
        "pairs": {name: {
            "primary": f"{layout.server_addr(Role.PRIMARY)}:{OMAPI_PORT}",
            "secondary": f"{layout.server_addr(Role.SECONDARY)}:{OMAPI_PORT}",
            "key_name": KEY_NAME,
            "key_file": key_file,
            "algorithm": s.algorithm,
            "failover_peer": name,
            "dhcpd_conf": dhcpd_confs[Role.PRIMARY],
            "secondary_dhcpd_conf": dhcpd_confs[Role.SECONDARY],
            "dhcpd_leases": dhcpd_leases[Role.PRIMARY],
            "secondary_dhcpd_leases": dhcpd_leases[Role.SECONDARY],
            "timeout": 3.0,
            **({"probe_giaddr": layout.probe_giaddr} if s.probe_subnet else {}),
        } for name in s.peer_names},
    }
    # imported here: tomli-w is the `lab` extra's (setup.cfg), so `import omapifo.lab` (the
    # command line imports it) works without it; check_prerequisites says when it is missing
    import tomli_w
    return f"# written by `omapifo lab up --prefix {s.prefix}`\n" + tomli_w.dumps(doc)
