"""The service's JSON turned back into the library's own objects.

The REST client returns :class:`~omapifo.PairState`, :class:`~omapifo.LeaseView`,
:class:`~omapifo.PoolReport` and :class:`~omapifo.ActionResult`, so a script reads
``st.secondary.local_state is FailoverState.PARTNER_DOWN`` whether it talks to dhcpd
directly or through the service. Each function here is the inverse of one schema in
``omapifo.api.schemas``: dumping what it builds gives back the JSON it was given
(tests/clients/test_decoding.py checks that for every schema). What the service does not
send comes back empty: a peer's ``hierarchy``, ``skew`` and ports as None, and its
failover-state object's ``name`` as "" (the pair's name is ``PairState.pair``).
"""
from __future__ import annotations

import ipaddress
from datetime import datetime, timezone
from typing import Any

from omapifo import (ActionResult, Endpoint, Evidence, FailoverState, FailoverStatus, Health, Lease,
                     LeaseState, LeaseView, Level, PairState, PeerView, PoolCounts, PoolReport,
                     ProtocolError, Role)


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _failover_state(value: dict[str, Any] | None) -> FailoverState:
    return FailoverState.decode(value["number"]) if value else FailoverState.UNKNOWN_STATE


def peer_view(d: dict[str, Any]) -> PeerView:
    status = None
    if d["reachable"]:
        status = FailoverStatus(
            name="", local_state=_failover_state(d["local_state"]),
            partner_state=_failover_state(d["partner_state"]),
            since=_time(d["since"]), partner_since=_time(d["partner_since"]),
            mclt=d["mclt"], max_response_delay=d["max_response_delay"],
            max_outstanding_updates=d["max_outstanding_updates"],
            load_balance_max_secs=d["load_balance_max_secs"], hierarchy=None, skew=None,
            cur_unacked_updates=d["cur_unacked_updates"])
    return PeerView(Role.parse(d["role"]), Endpoint.parse(d["endpoint"]), status,
                    d["error"], d["error_kind"])


def pair_state(d: dict[str, Any]) -> PairState:
    health = Health(Level[d["health"]["level"].upper()], tuple(d["health"]["reasons"]))
    return PairState(d["pair"], peer_view(d["primary"]), peer_view(d["secondary"]),
                     _time(d["read_at"]), health)  # type: ignore[arg-type]


def action_result(d: dict[str, Any]) -> ActionResult:
    return ActionResult(d["pair"], Role.parse(d["peer"]), d["action"], d["done"], d["dry_run"],
                        d["message"], pair_state(d["before"]),
                        pair_state(d["after"]) if d["after"] else None, d["force"],
                        d["reason"], _time(d["at"]),  # type: ignore[arg-type]
                        Evidence(d["evidence"]) if d["evidence"] else None, d["split_brain"])


def _lease(d: dict[str, Any] | None) -> Lease | None:
    if d is None:
        return None
    return Lease(ipaddress.IPv4Address(d["ip"]),
                 LeaseState(d["state"]["number"]) if d["state"] else None,
                 d["hardware_address"], d["client_id"], d["client_hostname"],
                 *(_time(d[k]) for k in ("starts", "ends", "tstp", "tsfp", "atsfp", "cltt")))


def lease_view(d: dict[str, Any]) -> LeaseView:
    return LeaseView(ipaddress.IPv4Address(d["ip"]), _lease(d["primary"]), _lease(d["secondary"]),
                     {Role.parse(k): v for k, v in d["errors"].items()})


def _pool(d: dict[str, Any]) -> PoolCounts:
    counts = {k: d[k] for k in ("total", "active", "free", "backup", "expired", "released",
                                "abandoned", "reset", "reserved", "bootp", "disagreements")}
    return PoolCounts(name=d["name"], subnet=d["subnet"],
                      ranges=tuple((lo, hi) for lo, hi in d["ranges"]),
                      failover_peer=d["failover_peer"], unknown=d["unknown"],
                      runway=dict(d["runway"]), **counts)


def pool_report(d: dict[str, Any]) -> PoolReport:
    return PoolReport(d["pair"], tuple(_pool(p) for p in d["pools"]),
                      _time(d["scanned_at"]), d["source"],  # type: ignore[arg-type]
                      d["duration"], dict(d["errors"]))


def decode(build: Any, data: Any, operation: str) -> Any:
    """``build(data)``; a body that is not what the v1 schemas describe is a ProtocolError
    (a service of another version, or not an omapifo service at all), not a KeyError."""
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"the service's answer is not an omapifo v1 body: "
                            f"{type(exc).__name__}: {exc}", operation=operation) from None
