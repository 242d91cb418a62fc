"""The service's Prometheus metrics (``GET /metrics``), fed by the poller and the audit."""
from __future__ import annotations

import contextlib
import logging
import threading
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from omapifo import (DrillReport, FailoverState, PEER_CRITICAL_AFTER, PairProbe, PairState,
                     PoolReport, Role, __version__)

from .store import Store

# the poller's log: the maintenance's end is seen by its polls
log = logging.getLogger("omapifo.api.poller")
_STATES = [s for s in FailoverState if s is not FailoverState.UNKNOWN_STATE]
# omapifo_pool_addresses' states: every binding state dhcpd has, and "unknown" (an address of
# the range without a lease), so that they sum to omapifo_pool_size_addresses. The pool's
# total is a family of its own: as a state="total" series here every sum would count it twice.
POOL_STATES = ("active", "free", "backup", "expired", "released", "abandoned", "reset",
               "reserved", "bootp", "unknown")


def _drop(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # prometheus_client before 0.20 raised for absent ones
        gauge.remove(*labels)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app).

    ``critical_after`` is the service's ``comms_interrupted_warning``: exported so that the
    alerting rules compare against the number the service rates by (issue 22)."""

    def __init__(self, critical_after: float = PEER_CRITICAL_AFTER) -> None:
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
                                    "state (from the last scan; unknown: no lease); they sum "
                                    "to omapifo_pool_size_addresses", ["pair", "pool", "state"],
                                    registry=r)
        self.pool_size = Gauge("omapifo_pool_size_addresses", "addresses in a pool's ranges",
                               ["pair", "pool"], registry=r)
        # which omapifo answers: the usual constant-1 info gauge, joined on by dashboards
        self.build_info = Gauge("omapifo_build_info", "always 1; the omapifo version serving "
                                "these metrics", ["version"], registry=r)
        self.build_info.labels(__version__).set(1)
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
        # -- what the alerting rules need to fail loud, not silent (issue 22) --
        # Always there, whatever the pairs do: deploy/prometheus/omapifo.rules.yml's
        # OmapifoDown fires for a target that does not export it, and its
        # DhcpCommunicationsInterrupted compares omapifo_peer_state_seconds against it.
        self.critical_after = Gauge("omapifo_peer_critical_after_seconds", "seconds of "
                                    "communications-interrupted after which this service "
                                    "calls a pair critical (comms_interrupted_warning; "
                                    "omapifo check's default -c)", registry=r)
        self.critical_after.set(critical_after)
        self.maintenance = Gauge("omapifo_maintenance_in_progress", "1 for the peer under a "
                                 "planned maintenance this service started, until both peers "
                                 "are normal again; 0 otherwise", labels, registry=r)
        self.maintenance_started = Gauge("omapifo_maintenance_started_timestamp_seconds",
                                         "UNIX time the planned maintenance in progress "
                                         "began (only while one is)", labels, registry=r)
        # pair -> (peer, when it began, when the service learnt that its start completed)
        self._maintenance: dict[str, tuple[str, datetime, datetime]] = {}
        self._maintenance_lock = threading.Lock()  # requests start one, polls end it

        # a stranger cannot add label values: the kind is one of two words
        self.unauthenticated = Counter(
            "omapifo_requests_unauthenticated", "requests turned away before "
            "authentication (no valid token, 401): kind=change for a POST or DELETE to an "
            "action, else other; counted and logged at a bounded rate, never stored",
            ["kind"], registry=r)
        self.store_writable = Gauge(
            "omapifo_store_writable", "1 while the service's database takes writes; 0 once "
            "one failed or it was opened read-only (disk full, read-only file system): "
            "every change is refused with 503 until a write succeeds", registry=r)

        # -- DHCP probes (omapifo/_probe.py; pairs with a probe_giaddr) --
        self.probe_success = Gauge("omapifo_probe_success", "1 if the server answered the "
                                   "last DHCP probe with an OFFER, 0 if not (no answer is not "
                                   "proof that it is down: docs/probes.md)", labels, registry=r)
        self.probe_latency = Gauge("omapifo_probe_latency_seconds", "seconds from the last "
                                   "probe's DISCOVER to the server's OFFER (only while it "
                                   "answers; dhcpd pings first, about 1 s)", labels, registry=r)
        self.probe_time = Gauge("omapifo_probe_timestamp_seconds", "UNIX time of the last "
                                "probe round of a pair that could be sent", ["pair"],
                                registry=r)
        self.probe_errors = Counter("omapifo_probe_errors", "probe rounds this host could not "
                                    "send, or not to every server (port 67, the relay "
                                    "address, no route from here)", ["pair"], registry=r)

        # -- failover drills the service ran ([[service.drills]]; api/drills.py) --
        self.drill_success = Gauge("omapifo_drill_last_success", "1 if the last drill of "
                                   "this server (peer: the one stopped) went as it should, "
                                   "0 if a step failed (only after a drill ran)", labels,
                                   registry=r)
        self.drill_time = Gauge("omapifo_drill_last_timestamp_seconds", "UNIX time the last "
                                "drill of this server ended", labels, registry=r)

    def watch_store(self, store: Store) -> None:
        """omapifo_store_writable follows ``store.writable`` (read at each scrape)."""
        self.store_writable.set_function(lambda: 1.0 if store.writable else 0.0)

    def count_action(self, pair: str, action: str, outcome: str) -> None:
        """One decision of the audit trail (``outcome``: done, refused, dry-run, ...)."""
        self.actions.labels(pair, action, outcome).inc()

    def start_maintenance(self, pair: str, peer: str, began: datetime) -> None:
        """A planned maintenance of ``peer`` completed its start (shut down, its partner in
        partner-down): in progress until a poll reads both peers normal again
        (:meth:`observe`). Kept in memory only: a restarted service forgets it and the
        alerts page as without one (loud, never silent; docs/monitoring.md)."""
        with self._maintenance_lock:
            self._maintenance[pair] = (peer, began, datetime.now(timezone.utc))
            self._show_maintenance(pair)

    def _show_maintenance(self, pair: str) -> None:
        peer, began, _ = self._maintenance.get(pair, ("", None, None))
        for role in Role:
            self.maintenance.labels(pair, str(role)).set(1 if str(role) == peer else 0)
            if str(role) == peer and began is not None:
                self.maintenance_started.labels(pair, peer).set(began.timestamp())
            else:
                _drop(self.maintenance_started, pair, str(role))

    def _end_maintenance(self, st: PairState) -> None:
        """Both peers normal in a read that ended after the start completed: it is over. A
        poll that read both normal just before the shutdown can end after the start only
        if it took longer than the start (the partner notices the stop 8-12 s after it,
        measured; omapifo/_maintenance.py), so it cannot end the maintenance at once."""
        normal = all(st.peer(role).local_state is FailoverState.NORMAL for role in Role)
        with self._maintenance_lock:
            current = self._maintenance.get(st.pair)
            if normal and current is not None and st.read_at > current[2]:
                del self._maintenance[st.pair]
                log.info("%s: both peers normal again: the planned maintenance of the %s is "
                         "over", st.pair, current[0])
            self._show_maintenance(st.pair)

    def observe_probe(self, found: PairProbe) -> None:
        if any(r.error for r in found.results):  # a DISCOVER this host could not send
            self.probe_errors.labels(found.pair).inc()
        for r in found.results:
            self.probe_success.labels(found.pair, str(r.role)).set(1 if r.answered else 0)
            if r.answered and r.latency is not None:
                self.probe_latency.labels(found.pair, str(r.role)).set(r.latency)
            else:  # no stale latency for a server that stopped answering
                _drop(self.probe_latency, found.pair, str(r.role))
        if found.results:
            self.probe_time.labels(found.pair).set(min(r.at for r in found.results).timestamp())

    def probe_failed(self, pair: str) -> None:
        """A round this host could not send: the last answers go, they would be stale."""
        self.probe_errors.labels(pair).inc()
        for role in Role:
            _drop(self.probe_success, pair, str(role))
            _drop(self.probe_latency, pair, str(role))

    def observe_drill(self, report: DrillReport) -> None:
        self.drill_success.labels(report.pair, str(report.role)).set(
            1 if report.completed else 0)
        self.drill_time.labels(report.pair, str(report.role)).set(report.ended.timestamp())

    def observe_pools(self, report: PoolReport) -> None:
        for pool in report.pools:
            self.pool_size.labels(report.pair, pool.name).set(pool.total)
            for state in POOL_STATES:
                self.pool_addresses.labels(report.pair, pool.name, state).set(
                    getattr(pool, state))
            for peer, runway in pool.runway.items():
                self.pool_runway.labels(report.pair, pool.name, peer).set(runway)
        if report.complete:  # the metric is the time of the last *complete* scan
            self.pool_scan_time.labels(report.pair).set(report.scanned_at.timestamp())

    def observe(self, st: PairState, duration: float) -> None:
        self.poll_duration.labels(st.pair).observe(duration)
        self.polls.labels(st.pair).inc()
        self.health.labels(st.pair).set(st.health.level.code)
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
        self._end_maintenance(st)
