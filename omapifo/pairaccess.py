"""What lease and pool operations need of a pair: its two peers and its dhcpd.conf.

:class:`~omapifo.failover.FailoverPair` is one; a test may hand in anything with these
five members. Lease and pool code depends on this, not on the pair class, so the pair
sits above them with no import cycle.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from .config import PairConfig
from .dhcpdconf import DhcpdConf
from .omapi import OmapiPeer
from .states import Role

T = TypeVar("T")


class PairAccess(Protocol):
    """The two peers of one failover pair, as operations on leases and pools use them."""

    @property
    def name(self) -> str:
        """The pair's name in the configuration."""
        ...

    @property
    def config(self) -> PairConfig:
        """The pair's configuration (its ``failover_peer`` chooses the pools it counts)."""
        ...

    def peer(self, role: Role | str) -> OmapiPeer:
        """The OMAPI connection to one peer."""
        ...

    def on_both(self, fn: Callable[[Role], T]) -> tuple[T, T]:
        """``(fn(PRIMARY), fn(SECONDARY))``, the two called concurrently."""
        ...

    def dhcpd_conf(self) -> DhcpdConf | None:
        """The pair's parsed dhcpd.conf, if one is configured."""
        ...
