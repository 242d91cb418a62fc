"""Reads and scans that requests ask for: shared while under way, and bounded.

Reads asked for by requests (``?fresh=1``, ``GET /peers/{role}``, ``GET /pools?fresh=1``)
go through a single flight per pair: callers that arrive while a read of that pair is
under way share it (the scheduled job too), a result younger than a minimum age is
reused, and a request waits for someone else's read only briefly before it gets
:class:`Busy` (503 + Retry-After): a frozen peer holds one thread for its timeout, not
one per caller.

Scans asked for by requests (lease lists, searches by hostname) are bounded twice
(:class:`ScanSeats`): at most :data:`SCANS_PER_PAIR` of one pair at once, and at most
:data:`SCAN_REQUESTS` requests held by scans in the whole service (those making one and
those sharing one); a request beyond either bound gets :class:`Busy` at once. Identical
ones in flight are shared. Every scan's lookups draw from its peer's one rate budget
(omapifo/_budget.py), the scheduled pool scans' too.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

# Scans that requests may run of one pair at once (lease lists, hostname searches); a
# third gets 503. Each peer's lookups are capped by its budget whatever runs, so more
# scans at once only make each slower, and each holds a request thread throughout.
SCANS_PER_PAIR = 2
# Requests that may wait for scans at once in the whole service, making one or sharing
# one. `omapifo serve` runs 8 waitress threads: at least four always stay free for
# everything else, so an operator's change never queues behind readers' scans. Measured
# before (issue 21): 16 concurrent searches held every thread for the length of a scan
# of a /16 and a partner-down waited behind them.
SCAN_REQUESTS = 4
T = TypeVar("T")


class Busy(Exception):
    """A read of this pair is already under way and did not finish within the wait (or
    the scans a request may start are all under way: ``detail`` says which)."""

    def __init__(self, what: str, pair: str, retry_after: int,
                 detail: str | None = None) -> None:
        self.what = what
        self.pair = pair
        self.retry_after = retry_after
        super().__init__(detail or (
            f"a {what} of pair {pair!r} is already under way; retry in "
            f"{retry_after} s (or read the cached result without ?fresh=1)"))


@dataclass
class _Flight(Generic[T]):
    started: float  # time.monotonic()
    request_waits: bool  # a request already waits for this call in full
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class SingleFlight(Generic[T]):
    """At most one call per key under way; callers arriving meanwhile share its result.

    Requests (``wait`` given) may hold a thread for a whole call only once per call: the
    one that makes it, or the first to join a call the scheduled job made (it would have
    waited as long for a read of its own; the fault tests ask ``?fresh=1`` while the job
    reads). Every later request waits at most ``wait`` seconds, then gets :class:`Busy`.
    ``expected(key)`` is how long a call may take (for Retry-After).

    Only a result some request waited for is reused by ``min_age``: one the job made alone
    is the poller's cache, which ``?fresh=1`` asks to bypass (a poll from just before a
    peer was cut would otherwise answer for it, as it did in the fault tests).
    """

    def __init__(self, what: str, expected: Callable[[str], float]) -> None:
        self.what = what
        self.expected = expected
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight[T]] = {}
        self._last: dict[str, tuple[float, T]] = {}  # monotonic start of the last call, result
        self.calls = 0  # calls actually made (the tests count them)

    def run(self, key: str, fn: Callable[[], T], *, min_age: float = 0.0,
            wait: float | None = None) -> T:
        """``fn()``'s result, shared: a read that began less than ``min_age`` before this
        call answers it (ended or still under way); an older one under way is waited for
        (see the class), then a new one is made. ``wait=None`` is the job's way: join
        whatever is under way, always wait in full, and leave the full wait to a request.

        A read counts from when it began, not from when it ended: a fresh request must not
        get a read that began before a peer was cut (measured in the fault tests: the
        job's poll in flight at the cut answered a ``?fresh=1`` made just after it)."""
        while True:
            with self._lock:
                now = time.monotonic()
                last = self._last.get(key)
                if last is not None and now - last[0] < min_age:
                    return last[1]
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight(now, request_waits=wait is not None)
                    self.calls += 1
                joinable = wait is None or now - flight.started < min_age
                budget = wait
                if not leader and wait is not None and not flight.request_waits:
                    flight.request_waits = True
                    budget = None  # the first request to join a job's read waits in full
            if leader:
                break
            if not flight.done.wait(budget):
                left = flight.started + self.expected(key) - time.monotonic()
                raise Busy(self.what, key, max(1, math.ceil(left)))
            if joinable:
                if flight.error is not None:
                    raise flight.error
                return flight.result  # type: ignore[return-value]
            # it began too long before this call to answer it: make (or join) a new one
        try:
            flight.result = fn()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.error is None and flight.request_waits:
                    self._last[key] = (flight.started, flight.result)  # type: ignore[arg-type]
            flight.done.set()
        return flight.result


class ScanSeats:
    """The bounds on scans that requests ask for (module docstring): a *seat* for every
    request that waits for a scan, and a *slot* of each pair a scan walks. Neither is
    ever waited for: a request that finds them taken gets :class:`Busy` at once, with a
    Retry-After from when the scans under way should end (``expected(pair)``: seconds a
    scan of the pair takes)."""

    def __init__(self, expected: Callable[[str], float], per_pair: int = SCANS_PER_PAIR,
                 total: int = SCAN_REQUESTS) -> None:
        self.expected = expected
        self.per_pair = per_pair
        self.total = total
        self._lock = threading.Lock()
        self._seats = 0
        self._running: dict[str, list[float]] = {}  # pair -> monotonic starts of its scans

    def _retry_after(self, pairs: Sequence[str]) -> int:
        now = time.monotonic()
        ends = [start + self.expected(p) - now for p in pairs
                for start in self._running.get(p, ())]
        return max(1, math.ceil(min(ends))) if ends else 1

    @contextlib.contextmanager
    def seat(self) -> Iterator[None]:
        """Hold one of the service's seats for the length of the block, or Busy."""
        with self._lock:
            if self._seats >= self.total:
                retry = self._retry_after(list(self._running))
                raise Busy("scan", "*", retry, f"{self.total} requests already wait for "
                           f"scans (lease lists, searches); retry in {retry} s")
            self._seats += 1
        try:
            yield
        finally:
            with self._lock:
                self._seats -= 1

    @contextlib.contextmanager
    def scanning(self, pairs: Sequence[str]) -> Iterator[None]:
        """Hold a slot of every pair in ``pairs`` for the length of the block, or Busy."""
        start = time.monotonic()
        with self._lock:
            full = [p for p in pairs if len(self._running.get(p, ())) >= self.per_pair]
            if full:
                retry = self._retry_after(full)
                raise Busy("scan", full[0], retry, f"{self.per_pair} scans of pair "
                           f"{full[0]!r} are already under way (lease lists, searches); "
                           f"retry in {retry} s")
            for p in pairs:
                self._running.setdefault(p, []).append(start)
        try:
            yield
        finally:
            with self._lock:
                for p in pairs:
                    self._running[p].remove(start)
                    if not self._running[p]:
                        del self._running[p]
