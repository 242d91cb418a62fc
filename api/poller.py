"""Scheduled health polling: one APScheduler job per pair, a cache, transitions, metrics.

Jobs never overlap (``max_instances=1``) and missed runs are coalesced, so a slow peer
(every request bounded by the pair's OMAPI timeout) delays one pair's next poll at most,
never the others'. Polls run in an executor with one thread per pair and pool scans in
one of their own, so long scans never hold a poll back. The scheduler is started by
``create_app`` only when asked, never at import time.

Reads and scans that requests ask for are shared and bounded by
:mod:`omapifo.api.flights`; the metrics are :mod:`omapifo.api.metrics`.
"""
from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from omapifo import (ConfigError, FailoverPair, LeaseList, LeaseSearch, OmapifoError,
                     PairProbe, PairState, PoolReport, Role, find_leases, parse_ip)

from . import logs
from .flights import T, ScanSeats, SingleFlight
from .metrics import Metrics
from .schemas.pairs import PairStateSchema
from .store import Store, Transition

log = logging.getLogger("omapifo.api.poller")
_STATE_SCHEMA = PairStateSchema()  # one instance: every poll of every pair serialises with it
# Scans at once: each runs three threads (its job, one per peer) and each peer's lookups
# draw from its one budget at pool_scan_rate; four bound what scans of many pairs cost
# the service.
SCAN_THREADS = 4


@dataclass(frozen=True)
class Snapshot:
    """The last poll of one pair, serialised once so GETs only copy bytes."""

    state: PairState
    body: bytes


def _signature(st: PairState) -> dict[tuple[str, str], str | None]:
    out: dict[tuple[str, str], str | None] = {}
    for role in Role:
        view = st.peer(role)
        out[(str(role), "reachable")] = "yes" if view.reachable else "no"
        # `is not None`: FailoverState.UNKNOWN_STATE is 0, falsy, and still a state
        out[(str(role), "local_state")] = None if view.local_state is None \
            else str(view.local_state)
        out[(str(role), "partner_state")] = None if view.partner_state is None \
            else str(view.partner_state)
    return out


class Poller:
    def __init__(self, pairs: dict[str, FailoverPair], store: Store, metrics: Metrics,
                 interval: float, pool_interval: float = 300.0,
                 pool_rate: float | None = None, *, fresh_min_age: float = 1.0,
                 fresh_wait: float = 0.5, pool_fresh_min_age: float = 2.0,
                 pool_retention: float = 604800.0, probe_interval: float = 60.0) -> None:
        self.pairs = pairs
        self.store = store
        self.metrics = metrics
        self.interval = interval
        self.pool_interval = pool_interval
        self.pool_rate = pool_rate
        self.fresh_min_age = fresh_min_age
        self.fresh_wait = fresh_wait
        self.pool_fresh_min_age = pool_fresh_min_age
        self.pool_retention = pool_retention  # seconds of pool scans the store keeps
        self.probe_interval = probe_interval  # seconds between DHCP probe rounds of a pair
        self._probes: dict[str, PairProbe] = {}
        self._probe_failures: dict[str, str] = {}
        self._cache: dict[str, Snapshot] = {}
        self._started = itertools.count()  # direct poll() calls may still overlap
        self._cached_start: dict[str, int] = {}
        self._scan_locks = {name: threading.Lock() for name in pairs}
        self._pools: dict[str, PoolReport] = {}
        self._lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._stopping = False
        self.polls = 0
        self.polled_at: dict[str, float] = {}  # time.monotonic() of each pair's last poll
        # set once the scheduler's first poll of every pair has ended (however it ended):
        # `omapifo serve` tells systemd it is ready then (Type=notify)
        self.first_round = threading.Event()
        self._first_polled: set[str] = set()
        if not pairs:
            self.first_round.set()
        # A state read connects and sends one request, each bounded by the pair's timeout
        # (the fault tests measure a cut peer within 2 x timeout + 1 s).
        self.reads: SingleFlight[Snapshot] = SingleFlight(
            "state read", lambda name: 2 * self.pairs[name].config.timeout + 1)
        self.scans: SingleFlight[PoolReport] = SingleFlight("pool scan", self._scan_expected)
        # lease lists and searches asked for by requests: identical ones under way are
        # shared (every joiner waits for the one scan, holding a seat); never reused after
        self.seats = ScanSeats(self._list_expected)
        self.lists: SingleFlight[LeaseList] = SingleFlight("lease list", self._list_expected)
        self.searches: SingleFlight[LeaseSearch] = SingleFlight(
            "lease search", self._list_expected)
        self._list_took: dict[str, float] = {}  # pair -> seconds its last request scan took
        self.request_scans = 0  # lease lists and searches that did scan (the tests count)

    def poll(self, name: str) -> Snapshot:
        """Read both peers of ``name`` now; record transitions; refresh cache and metrics.

        Not shared: :meth:`read` is the shared way in."""
        with self._lock:
            started = next(self._started)
        t = time.monotonic()
        st = self.pairs[name].state()
        duration = time.monotonic() - t
        snap = Snapshot(st, json.dumps(_STATE_SCHEMA.dump(st)).encode())
        with self._lock:
            self.polls += 1
            self.polled_at[name] = time.monotonic()
            if started < self._cached_start.get(name, -1):
                return snap  # a poll started later has already been stored: keep it
            previous = self._cache.get(name)
            self._cache[name] = snap
            self._cached_start[name] = started
        for role in Role:
            view = st.peer(role)
            if not view.reachable:
                logs.event(logging.WARNING, "poll-error", pair=name, peer=str(role),
                           error=view.error_kind or "PeerError", detail=view.error)
        if previous is not None:
            old, new = _signature(previous.state), _signature(st)
            for (peer, field_), value in new.items():
                if old[(peer, field_)] != value:
                    logs.event(logging.INFO, "transition", pair=name, peer=peer, field=field_,
                               **{"from": old[(peer, field_)], "to": value})
                    try:
                        self.store.add_transition(Transition(st.read_at, name, peer, field_,
                                                             old[(peer, field_)], value))
                    except sqlite3.Error as exc:  # the history loses a line, not the poll:
                        log.error("could not record a transition of %s: %s", name, exc)
        self.metrics.observe(st, duration)
        return snap

    def read(self, name: str, *, min_age: float | None = None,
             wait: float | None = None) -> Snapshot:
        """A poll of ``name`` shared with every other caller (see :class:`SingleFlight`);
        by default as a request asks: reuse for ``fresh_min_age``, wait ``fresh_wait``."""
        return self.reads.run(name, lambda: self.poll(name),
                              min_age=self.fresh_min_age if min_age is None else min_age,
                              wait=self.fresh_wait if wait is None else wait)

    def _job(self, name: str) -> None:
        try:
            # the job always reads (a result it reused would stop polling once the interval
            # is under fresh_min_age) but joins a read under way, however long it takes
            self.reads.run(name, lambda: self.poll(name), min_age=0.0, wait=None)
            self.store.probe()  # keeps omapifo_store_writable true between changes
        except Exception:  # noqa: BLE001 - a poll must never kill the scheduler thread
            log.exception("poll of %s failed", name)
        finally:
            with self._lock:
                self._first_polled.add(name)
                if len(self._first_polled) == len(self.pairs):
                    self.first_round.set()

    def scan(self, name: str) -> PoolReport:
        """Scan ``name``'s pools now (rate-capped), cache the report and its metrics.

        One scan of a pair at a time (direct calls too): two at once would ask dhcpd for
        twice the configured rate."""
        with self._scan_locks[name]:
            try:
                report = self.pairs[name].pools(rate=self.pool_rate)
            except OSError as exc:
                if exc.filename is None:
                    raise
                # FailoverPair.dhcpd_conf() stats and parses the file on every scan; a file
                # that went missing was an uncaught FileNotFoundError (a 500) before
                raise ConfigError(f"pair {name!r}: cannot read its dhcpd_conf "
                                  f"{exc.filename}: {exc.strerror}") from None
        with self._lock:
            self._pools[name] = report
        self.metrics.observe_pools(report)
        try:
            self.store.add_pool_scan(report, self.pool_retention)
        except sqlite3.Error:  # the series is for charts: a locked database loses a point,
            log.exception("could not record the pool scan of %s", name)  # not the scan
        return report

    def _scan_expected(self, name: str) -> float:
        with self._lock:
            last = self._pools.get(name)
        return last.duration + 1 if last else 2 * self.pairs[name].config.timeout + 1

    def pools(self, name: str, fresh: bool = False) -> PoolReport:
        """The last scan's report; ``fresh``: one no older than ``pool_fresh_min_age``,
        shared with any scan of the pair under way (joined for ``fresh_wait``). The request
        that scans holds one of the service's seats (:class:`ScanSeats`) throughout; those
        that join wait briefly and need none."""
        with self._lock:
            report = None if fresh else self._pools.get(name)
        if report is not None:
            return report
        if not self.pairs[name].config.pool_scans:
            raise ConfigError(f"pair {name!r}: the service's pool scans are switched off "
                              "(pool_scans = false in its configuration)")

        def seated() -> PoolReport:
            with self.seats.seat():
                return self.scan(name)
        return self.scans.run(name, seated, min_age=self.pool_fresh_min_age,
                              wait=self.fresh_wait)

    # -- lease lists and searches for requests (bounded: ScanSeats) ---------------------

    def _list_expected(self, name: str) -> float:
        with self._lock:
            took = self._list_took.get(name)
        return took + 1 if took is not None else self._scan_expected(name)

    def _timed_scan(self, pairs: Sequence[str], fn: Callable[[], T]) -> T:
        with self.seats.scanning(pairs):
            with self._lock:
                self.request_scans += 1
            t = time.monotonic()
            result = fn()
            took = time.monotonic() - t
        with self._lock:
            for p in pairs:
                self._list_took[p] = took
        return result

    def lease_list(self, name: str, *, subnet: str | None = None, state: str | None = None,
                   hostname: str | None = None, after: str | None = None,
                   limit: int | None = None) -> LeaseList:
        """A page of ``name``'s lease list, scanned now at ``pool_rate`` (the peers'
        budget), shared with an identical request under way; Busy beyond the bounds."""
        pair = self.pairs[name]
        key = "\0".join(str(x) for x in (name, subnet, state, hostname and hostname.lower(),
                                          after, limit))
        with self.seats.seat():
            return self.lists.run(key, lambda: self._timed_scan([name], lambda: pair.leases(
                subnet, state, hostname, after=after, limit=limit, rate=self.pool_rate)),
                min_age=0.0, wait=None)

    def find(self, query: str) -> LeaseSearch:
        """Where ``query`` has leases across every pair (:func:`omapifo.find_leases`). An
        IP address is one lookup per peer and goes straight through; anything else may
        scan every pair, so it takes a seat and a slot of every pair, shared with an
        identical search under way."""
        pairs = list(self.pairs.values())
        text = query.strip()
        try:
            parse_ip(text)
        except ValueError:
            pass
        else:
            return find_leases(pairs, text, rate=self.pool_rate)
        with self.seats.seat():
            return self.searches.run(text, lambda: self._timed_scan(
                list(self.pairs), lambda: find_leases(pairs, text, rate=self.pool_rate)),
                min_age=0.0, wait=None)

    def _scan_job(self, name: str) -> None:
        if self._stopping:
            return  # queued behind other scans: stop() would otherwise wait for each one
        config = self.pairs[name].config
        if config.dhcpd_conf is None or not config.pool_scans:
            return  # no configuration to know the pools from, or switched off; GET says so
        try:
            self.scans.run(name, lambda: self.scan(name), min_age=0.0, wait=None)
        except ConfigError as exc:
            log.error("pool scan of %s: %s", name, exc)
        except Exception:  # noqa: BLE001 - a scan must never kill the scheduler thread
            log.exception("pool scan of %s failed", name)

    def probe(self, name: str) -> PairProbe:
        """A DHCP probe round of both servers of ``name`` now (omapifo._probe: bounded in
        rate by the library); the last one feeds the metrics and the status page."""
        found = self.pairs[name].probe()
        with self._lock:
            self._probes[name] = found
            self._probe_failures.pop(name, None)
        self.metrics.observe_probe(found)
        for r in found.results:
            if not r.answered:
                logs.event(logging.WARNING, "probe-unanswered", pair=name, peer=str(r.role),
                           detail=r.describe())
        return found

    def _probe_job(self, name: str) -> None:
        try:
            self.probe(name)
        except OmapifoError as exc:  # ProbeError: this host, not the servers; say so
            self._probe_failed(name, str(exc))
            log.error("DHCP probe of %s: %s", name, exc)
        except Exception as exc:  # noqa: BLE001 - a probe must never kill the scheduler thread
            self._probe_failed(name, f"{type(exc).__name__}: {exc}")
            log.exception("DHCP probe of %s failed", name)

    def _probe_failed(self, name: str, why: str) -> None:
        """The last answers go (they would read as fresh); the page and GET say why."""
        with self._lock:
            self._probes.pop(name, None)
            self._probe_failures[name] = why
        self.metrics.probe_failed(name)

    def last_probe(self, name: str) -> PairProbe | None:
        """The last probe round of ``name``, or None: never probes (the page must not)."""
        with self._lock:
            return self._probes.get(name)

    def probe_failure(self, name: str) -> str | None:
        """Why the last scheduled round could not be sent, if it could not."""
        with self._lock:
            return self._probe_failures.get(name)

    def last_pools(self, name: str) -> PoolReport | None:
        """The last scan's report, or None: never scans (the status page must not)."""
        with self._lock:
            return self._pools.get(name)

    def cached(self, name: str) -> Snapshot | None:
        with self._lock:
            return self._cache.get(name)

    def get(self, name: str, fresh: bool = False) -> Snapshot:
        """The cached snapshot; ``fresh`` (or none yet): a shared read (:meth:`read`)."""
        snap = None if fresh else self.cached(name)
        return snap or self.read(name)

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        # Polls get a thread per pair, so every pair is polled within its interval even
        # when every peer times out; scans have executor threads of their own. Measured
        # before: with 20 pairs scanning at start-up, 10 pairs went unpolled while the
        # scans held APScheduler's one shared 10-thread executor.
        n = max(1, len(self.pairs))
        sched = BackgroundScheduler(daemon=True, timezone=timezone.utc, executors={
            "default": ThreadPoolExecutor(n),
            "scans": ThreadPoolExecutor(min(n, SCAN_THREADS)),
            "probes": ThreadPoolExecutor(1)})
        now = datetime.now(timezone.utc)
        for i, name in enumerate(self.pairs):
            sched.add_job(self._job, "interval", seconds=self.interval, args=[name], id=name,
                          max_instances=1, coalesce=True, next_run_time=now,
                          misfire_grace_time=max(1, int(self.interval)))
            # staggered over the interval: scans of many pairs never all start at once
            sched.add_job(self._scan_job, "interval", seconds=self.pool_interval, args=[name],
                          id=f"{name}/pools", max_instances=1, coalesce=True,
                          executor="scans",
                          next_run_time=now + timedelta(seconds=i * self.pool_interval / n),
                          misfire_grace_time=max(1, int(self.pool_interval)))
            if self.pairs[name].config.probe_giaddr is not None:
                # one thread for every pair's probes: rounds from one relay address run
                # one at a time anyway (omapifo._probe), and each is bounded in time
                sched.add_job(self._probe_job, "interval", seconds=self.probe_interval,
                              args=[name], id=f"{name}/probe", max_instances=1,
                              coalesce=True, executor="probes", next_run_time=now,
                              misfire_grace_time=max(1, int(self.probe_interval)))
        sched.start()
        self._scheduler = sched

    def stop(self) -> None:
        self._stopping = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        self._scheduler = None
