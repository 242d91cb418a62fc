"""What a scan of a pair found: the one shape of pool counts and of lease lists.

A scan walks the addresses of the pair's pools on both peers (:mod:`omapifo._scan`), or
reads one server's dhcpd.leases; either way the report says when, from where, how long
it took, and which peer could not be scanned (``errors``, keyed by :class:`Role` as in
every view of both peers), so a caller knows whether both views are in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from ._states import Role

R = TypeVar("R")


@dataclass(frozen=True)
class ScanReport(Generic[R]):
    """``rows`` (a pool's counts, a lease) as a scan of ``pair`` found them."""

    pair: str
    rows: tuple[R, ...]
    scanned_at: datetime
    source: str  # "omapi" (both peers, live) or "leases-file" (one server's file)
    duration: float  # seconds
    errors: dict[Role, str] = field(default_factory=dict)  # a peer whose scan failed

    @property
    def complete(self) -> bool:
        """Every peer's view is in: no peer's scan failed."""
        return not self.errors
