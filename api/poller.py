"""Scheduled health polling: one APScheduler job per pair, a cache, transitions, metrics.

Jobs never overlap (``max_instances=1``) and missed runs are coalesced, so a slow peer
(every request bounded by the pair's OMAPI timeout) delays one pair's next poll at most,
never the others'. The scheduler is started by ``create_app`` only when asked, never at
import time.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from omapifo import FailoverPair, FailoverState, PairState, PoolReport, Role
from omapifo.errors import ConfigError

from .schemas import PairStateSchema
from .store import Store, Transition

log = logging.getLogger("omapifo.api.poller")
_STATE_SCHEMA = PairStateSchema()  # one instance: every poll of every pair serialises with it
_STATES = [s for s in FailoverState if s is not FailoverState.UNKNOWN_STATE]


def _drop(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # prometheus_client before 0.20 raised for absent ones
        gauge.remove(*labels)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["pair", "peer"]
        r = self.registry
        self.local_state = Gauge("omapifo_peer_local_state", "dhcpd's own failover state "
                                 "number (2 normal, 3 communications-interrupted, 4 "
                                 "partner-down, ...)", labels, registry=r)
        self.partner_state = Gauge("omapifo_peer_partner_state", "the state this peer "
                                   "believes its partner is in (number)", labels, registry=r)
        self.state_info = Gauge("omapifo_peer_state", "1 for the peer's current local state",
                                labels + ["state"], registry=r)
        self.reachable = Gauge("omapifo_peer_reachable", "1 if the peer answered OMAPI",
                               labels, registry=r)
        self.state_seconds = Gauge("omapifo_peer_state_seconds", "seconds since the peer's "
                                   "last state change", labels, registry=r)
        self.health = Gauge("omapifo_pair_health", "0 ok, 1 warning, 2 critical", ["pair"],
                            registry=r)
        self.poll_duration = Histogram("omapifo_poll_duration_seconds", "time to read both "
                                       "peers", ["pair"], registry=r,
                                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                2.5, 5, 10))
        self.pool_addresses = Gauge("omapifo_pool_addresses", "addresses of a pool by binding "
                                    "state (from the last scan)", ["pair", "pool", "state"],
                                    registry=r)
        self.pool_runway = Gauge("omapifo_pool_runway_addresses", "addresses a peer can still "
                                 "hand out alone if its partner disappears now",
                                 ["pair", "pool", "peer"], registry=r)
        self.pool_scan_time = Gauge("omapifo_pool_scan_timestamp_seconds", "UNIX time of the "
                                    "last complete pool scan", ["pair"], registry=r)
        self.last_success = Gauge("omapifo_poll_last_success_timestamp_seconds", "UNIX time of "
                                  "the last poll that reached both peers", ["pair"], registry=r)
        self.polls = Counter("omapifo_polls", "polls of a pair (both peers read)", ["pair"],
                             registry=r)
        self.poll_errors = Counter("omapifo_poll_errors", "polls in which this peer could not "
                                   "be read", labels, registry=r)
        self.actions = Counter("omapifo_actions", "partner-down, shutdown and release "
                               "decisions by outcome", ["pair", "action", "outcome"],
                               registry=r)

    def count_action(self, pair: str, action: str, outcome: str) -> None:
        """One decision of the audit trail (``outcome``: done, refused, dry-run, ...)."""
        self.actions.labels(pair, action, outcome).inc()

    def observe_pools(self, report: PoolReport) -> None:
        for pool in report.pools:
            for state in ("total", "active", "free", "backup", "expired", "released",
                          "abandoned", "reset", "reserved", "bootp"):
                self.pool_addresses.labels(report.pair, pool.name, state).set(
                    getattr(pool, state))
            for peer, runway in pool.runway.items():
                self.pool_runway.labels(report.pair, pool.name, peer).set(runway)
        if report.complete:  # the metric is the time of the last *complete* scan
            self.pool_scan_time.labels(report.pair).set(report.scanned_at.timestamp())

    def observe(self, st: PairState, duration: float) -> None:
        self.poll_duration.labels(st.pair).observe(duration)
        self.polls.labels(st.pair).inc()
        self.health.labels(st.pair).set(int(st.health.level))
        both = True
        for role in Role:
            view = st.peer(role)
            peer = str(role)
            self.reachable.labels(st.pair, peer).set(1 if view.reachable else 0)
            both = both and view.reachable
            if not view.reachable:
                # No stale truth: a dead peer's last state would read as its present one
                # (omapifo_peer_local_state stayed 2 while the primary was down). Its series
                # go away until it answers again; omapifo_peer_reachable says why.
                self.poll_errors.labels(st.pair, peer).inc()
                for gauge in (self.local_state, self.partner_state, self.state_seconds):
                    _drop(gauge, st.pair, peer)
                for s in _STATES:
                    _drop(self.state_info, st.pair, peer, str(s))
                continue
            for s in _STATES:
                self.state_info.labels(st.pair, peer, str(s)).set(
                    1 if view.local_state is s else 0)
            self.local_state.labels(st.pair, peer).set(int(view.local_state or 0))
            self.partner_state.labels(st.pair, peer).set(int(view.partner_state or 0))
            if view.since:
                self.state_seconds.labels(st.pair, peer).set(
                    (st.read_at - view.since).total_seconds())
            else:
                _drop(self.state_seconds, st.pair, peer)
        if both:
            self.last_success.labels(st.pair).set(st.read_at.timestamp())


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
                 pool_rate: float | None = None) -> None:
        self.pairs = pairs
        self.store = store
        self.metrics = metrics
        self.interval = interval
        self.pool_interval = pool_interval
        self.pool_rate = pool_rate
        self._cache: dict[str, Snapshot] = {}
        self._started = itertools.count()  # polls of a pair may overlap (job + ?fresh=1)
        self._cached_start: dict[str, int] = {}
        self._scan_locks = {name: threading.Lock() for name in pairs}
        self._pools: dict[str, PoolReport] = {}
        self._lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self.polls = 0

    def poll(self, name: str) -> Snapshot:
        """Read both peers of ``name`` now; record transitions; refresh cache and metrics."""
        with self._lock:
            started = next(self._started)
        t = time.monotonic()
        st = self.pairs[name].state()
        duration = time.monotonic() - t
        snap = Snapshot(st, json.dumps(_STATE_SCHEMA.dump(st)).encode())
        with self._lock:
            self.polls += 1
            if started < self._cached_start.get(name, -1):
                return snap  # a poll started later has already been stored: keep it
            previous = self._cache.get(name)
            self._cache[name] = snap
            self._cached_start[name] = started
        if previous is not None:
            old, new = _signature(previous.state), _signature(st)
            for (peer, field), value in new.items():
                if old[(peer, field)] != value:
                    self.store.add_transition(Transition(st.read_at, name, peer, field,
                                                         old[(peer, field)], value))
        self.metrics.observe(st, duration)
        return snap

    def _job(self, name: str) -> None:
        try:
            self.poll(name)
        except Exception:  # noqa: BLE001 - a poll must never kill the scheduler thread
            log.exception("poll of %s failed", name)

    def scan(self, name: str) -> PoolReport:
        """Scan ``name``'s pools now (rate-capped), cache the report and its metrics.

        One scan of a pair at a time (the job and ``?fresh=1`` may meet): two at once
        would ask dhcpd for twice the configured rate."""
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
        return report

    def pools(self, name: str, fresh: bool = False) -> PoolReport:
        with self._lock:
            report = None if fresh else self._pools.get(name)
        return report or self.scan(name)

    def _scan_job(self, name: str) -> None:
        if self.pairs[name].config.dhcpd_conf is None:
            return  # no configuration to know the pools from; GET says so
        try:
            self.scan(name)
        except Exception:  # noqa: BLE001 - a scan must never kill the scheduler thread
            log.exception("pool scan of %s failed", name)

    def cached(self, name: str) -> Snapshot | None:
        with self._lock:
            return self._cache.get(name)

    def get(self, name: str, fresh: bool = False) -> Snapshot:
        snap = None if fresh else self.cached(name)
        return snap or self.poll(name)

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        if self.running:
            return
        sched = BackgroundScheduler(daemon=True, timezone=timezone.utc)
        now = datetime.now(timezone.utc)
        for name in self.pairs:
            sched.add_job(self._job, "interval", seconds=self.interval, args=[name], id=name,
                          max_instances=1, coalesce=True, next_run_time=now,
                          misfire_grace_time=max(1, int(self.interval)))
            sched.add_job(self._scan_job, "interval", seconds=self.pool_interval, args=[name],
                          id=f"{name}/pools", max_instances=1, coalesce=True,
                          next_run_time=now, misfire_grace_time=max(1, int(self.pool_interval)))
        sched.start()
        self._scheduler = sched

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        self._scheduler = None
