"""What every operation on a pair needs of it: its two peers, their state, its dhcpd.conf.

:class:`~omapifo.FailoverPair` is one; a test may hand in anything with the
members an operation uses. Lookups, scans and the actions (partner-down, shutdown,
release, host changes, maintenance; each a function of this and an
:class:`~omapifo._attempt.Attempt`) depend on this, not on the pair class, so the pair
sits above them with no import cycle.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from ._config import PairConfig
from ._dhcpdconf import DhcpdConf
from ._omapi import OmapiPeer
from ._pairstate import PairState
from ._states import Role

T = TypeVar("T")


class PairAccess(Protocol):
    """The two peers of one failover pair, as the operations on it use them."""

    @property
    def name(self) -> str:
        """The pair's name in the configuration."""
        ...

    @property
    def config(self) -> PairConfig:
        """The pair's configuration (its ``failover_peer`` names the failover-state object
        the changes move and chooses the pools a scan counts)."""
        ...

    def peer(self, role: Role | str) -> OmapiPeer:
        """The OMAPI connection to one peer."""
        ...

    def on_both(self, fn: Callable[[Role], T]) -> tuple[T, T]:
        """``(fn(PRIMARY), fn(SECONDARY))``, the two called concurrently."""
        ...

    def state(self) -> PairState:
        """Both peers' failover state, read afresh (a peer that cannot be read is a view
        with its error, never an exception)."""
        ...

    def dhcpd_conf(self) -> DhcpdConf | None:
        """The pair's parsed dhcpd.conf, if one is configured."""
        ...
