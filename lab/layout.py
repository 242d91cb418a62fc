"""A lab's addresses: one /18 slot of 198.18.0.0/15 (two with a large pool).

Only 198.18.0.0/15 (RFC 2544's benchmarking range) is used, split into eight /18
slots so that labs with different prefixes run side by side; a lab with
``large_pool`` also takes the next slot as client subnet 4 (a /18, 16,382 addresses).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from omapifo import Role

LAB_NET = ipaddress.IPv4Network("198.18.0.0/15")
SLOTS = 8  # /18 blocks in LAB_NET
CLIENT_SUBNETS = 4
OMAPI_PORT = 7911


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

    def failover_addr(self, role: Role, index: int = 0) -> str:
        """The address failover peer ``index`` of the lab uses on ``role``'s server: the
        server's own for the seed's peer, a second address (.252) for a second peer.

        dhcpd 4.4.3 tells failover peers apart by the partner's address, not its port:
        two peers between the same two addresses (ports 519/520 and 647/648) never got
        past ``recover``; the primary logged "Failover CONNECTACK from classroom-2: remote
        failover relationship name classroom-1-6 does not match" (measured)."""
        if index == 0:
            return self.server_addr(role)
        return self._addr(10 if role is Role.PRIMARY else 60, 253 - index)

    def server_gateway(self, role: Role) -> str:
        """The router's address on the server's subnet (its default route)."""
        return str(self.server_net(role).broadcast_address - 1)

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

    @property
    def probe_net(self) -> ipaddress.IPv4Network:
        """The probe subnet (LabSettings.probe_subnet): x.x.9.0/24 of the slot."""
        return ipaddress.IPv4Network(f"{self._addr(9, 0)}/24")

    @property
    def probe_giaddr(self) -> str:
        """The probing host's relay address in the probe subnet, on root's link."""
        return self._addr(9, 1)

    def probe_range(self) -> tuple[str, str]:
        net = self.probe_net
        return str(net.network_address + 32), str(net.network_address + 63)

    def client_mac(self, n: int) -> str:
        """Client subnet ``n``'s own hardware address (distinct per slot)."""
        return f"02:00:00:{self.slot:02x}:00:{n:02x}"

