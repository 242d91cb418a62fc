"""Rate budgets: one token bucket per dhcpd for every scan of it, and small buckets for
whatever else must happen at a bounded rate (log lines).

**One budget per peer.** Pool counts, lease lists and searches each walk every address
of a pair's pools with one OMAPI lookup per address (:mod:`omapifo._scan`). A rate that
capped each scan alone would let sixteen concurrent searches ask a dhcpd for sixteen
times the rate the cap exists to protect (measured, issue 21). So every scan of a
peer in this process draws from that peer's one budget (:func:`peer_budget`, keyed by
the peer's address and port, so pairs of several failover peers between the same two
servers share it too): whatever runs at once, the peer sees at most the rate in total.

Each draw names its rate, and the bucket keeps one theoretical arrival time (GCRA, the
token bucket's equivalent): a lookup at rate ``r`` spends ``1/r`` seconds of the peer's
time. Scans at the same rate share that rate; a process runs every scan at one
configured rate (the service's ``pool_scan_rate``), so that is the case that matters.

pyrate-limiter's token bucket does the arithmetic (its in-memory state store checks and
commits one draw under its lock, and returns how long until the next would fit, which
the pipelined scan needs to sleep for without blocking its reads). Measured here: a draw
costs about 4 us, against about 40 us of our CPU per lookup (../shared/notes).
"""
from __future__ import annotations

import functools
import threading
import time

from pyrate_limiter import Decision, InMemoryStateStore, Rate, TokenBucket

__all__ = ["RateBudget", "peer_budget"]

_ALGORITHM = TokenBucket()
# Rate wants whole units per whole milliseconds: a rate in lookups per second is written
# as per 1,000,000 ms (1,000 s), so that fractional rates (0.1 a second) keep their value.
_SCALE = 1000


@functools.lru_cache(maxsize=64)
def _rate(per_second: float, burst: int) -> Rate:
    if not per_second > 0:
        raise ValueError(f"a rate budget needs a positive rate, not {per_second!r}")
    if burst < 1:
        raise ValueError(f"a rate budget's burst must be at least 1, not {burst!r}")
    return Rate(max(1, round(per_second * _SCALE)), 1000 * _SCALE, burst=burst)


class RateBudget:
    """A token bucket: draws at ``rate`` per second, at most ``burst`` at once.

    Thread-safe. :meth:`take` never blocks: it takes now or says how long to wait.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._store = InMemoryStateStore()

    def __repr__(self) -> str:
        return f"RateBudget({self.name!r})"

    def take(self, rate: float, burst: int = 1, n: int = 1) -> float:
        """Take ``n`` draws at ``rate`` per second (with ``burst``): 0.0 if they were
        taken, else the seconds until they would fit (nothing taken)."""
        decision: Decision = self._store.check(  # type: ignore[no-untyped-call]
            _ALGORITHM, [_rate(float(rate), burst)], int(time.monotonic() * 1000), n)
        if decision.allowed:
            return 0.0
        if decision.retry_after_ms is None:  # n > burst: never, as a whole
            raise ValueError(f"{n} draws can never fit a burst of {burst}")
        return max(decision.retry_after_ms, 1) / 1000


_PEERS: dict[tuple[str, int], RateBudget] = {}
_LOCK = threading.Lock()


def peer_budget(host: str, port: int) -> RateBudget:
    """The one budget of the dhcpd at ``host``:``port`` in this process, shared by every
    scan of it (module docstring)."""
    key = (host, int(port))
    with _LOCK:
        budget = _PEERS.get(key)
        if budget is None:
            budget = _PEERS[key] = RateBudget(f"{host}:{port}")
        return budget
