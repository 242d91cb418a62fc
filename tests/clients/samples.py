"""Library objects built from recorded dhcpd answers, and their JSON as the service dumps it."""
from __future__ import annotations

from datetime import datetime, timezone

from omapifo import (ActionResult, Endpoint, LeaseView, PairState,
                     PeerView, PoolCounts, PoolReport, Role)
from omapifo import _wire as wire
from omapifo.api import schemas as s
from omapifo._health import assess

from ..recorded import LEASE_PRIMARY, LEASE_SECONDARY, failover_state

P = "classroom-1-6"
NOW = datetime(2026, 11, 25, 3, 0, 7, 250000, tzinfo=timezone.utc)
PRIMARY = Endpoint("198.18.10.253", 7911)
SECONDARY = Endpoint("198.18.60.253", 7911)


def pair_state(*, secondary_reachable: bool = True) -> PairState:
    """The primary in communications-interrupted; the secondary normal or timed out."""
    primary = PeerView(Role.PRIMARY, PRIMARY, wire.failover_status(P, failover_state(3, 2)))
    if secondary_reachable:
        secondary = PeerView(Role.SECONDARY, SECONDARY,
                             wire.failover_status(P, failover_state(2, 2, hierarchy=1)))
    else:
        secondary = PeerView(Role.SECONDARY, SECONDARY, None,
                             "secondary, read failover state: no answer within 3 s", "PeerTimeout")
    return PairState(P, primary, secondary, NOW, assess(primary, secondary, NOW))


def recover_wait() -> PairState:
    primary = PeerView(Role.PRIMARY, PRIMARY, wire.failover_status(P, failover_state(254, 4)))
    secondary = PeerView(Role.SECONDARY, SECONDARY,
                         wire.failover_status(P, failover_state(4, 254, hierarchy=1)))
    return PairState(P, primary, secondary, NOW, assess(primary, secondary, NOW))


def lease_view() -> LeaseView:
    return LeaseView(wire.lease(LEASE_PRIMARY).ip, wire.lease(LEASE_PRIMARY),
                     wire.lease(LEASE_SECONDARY))


def lease_view_half() -> LeaseView:
    return LeaseView(wire.lease(LEASE_PRIMARY).ip, wire.lease(LEASE_PRIMARY), None,
                     {Role.SECONDARY: "secondary, look up lease: no answer within 3 s"})


def action_result() -> ActionResult:
    return ActionResult(P, Role.SECONDARY, "partner-down", True, False,
                        "the secondary is partner-down", pair_state(), pair_state(), True,
                        "primary's PSU died", NOW)


def pool_report() -> PoolReport:
    pool = PoolCounts(name="198.18.11.0/24 pool 1", subnet="198.18.11.0/24",
                      ranges=(("198.18.11.32", "198.18.11.63"),), failover_peer=P, total=32,
                      active=3, free=14, backup=13, expired=1, released=1, abandoned=0, reset=0,
                      reserved=0, bootp=0, unknown=0, disagreements=1,
                      runway={"primary": 14, "secondary": 13})
    return PoolReport(P, (pool,), NOW, "omapi", 0.25, {Role.SECONDARY: "timed out"})


SAMPLES = [
    ("pair state", pair_state, s.PairStateSchema),
    ("a peer timed out", lambda: pair_state(secondary_reachable=False), s.PairStateSchema),
    ("recover-wait", recover_wait, s.PairStateSchema),
    ("peer", lambda: pair_state().primary, s.PeerSchema),
    ("lease", lease_view, s.LeaseViewSchema),
    ("lease on one peer", lease_view_half, s.LeaseViewSchema),
    ("action result", action_result, s.ActionResultSchema),
    ("pool report", pool_report, s.PoolReportSchema),
]


def dumped(build, schema) -> dict:
    return schema().dump(build())
