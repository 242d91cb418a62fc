"""Pools: a pair's address pools counted from a scan of both peers (omapifo/_pools.py), and the
scans the service keeps (the pool history)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo import PoolCounts, PoolReport

from ._base import Strict, _Base, _in_utc_range, _Model, _ScanReportSchema


class PoolCountsSchema(_Model):
    name = f.String(required=True)
    subnet = f.String(allow_none=True)
    ranges = f.Function(lambda p: [list(r) for r in p.ranges],
                        deserialize=lambda v: tuple((str(lo), str(hi)) for lo, hi in v))
    failover_peer = f.String(allow_none=True)
    total = f.Integer(required=True)
    active = f.Integer(required=True)
    free = f.Integer(required=True, metadata={"description": "owned by the primary"})
    backup = f.Integer(required=True, metadata={"description": "owned by the secondary"})
    expired = f.Integer(required=True)
    released = f.Integer(required=True)
    abandoned = f.Integer(required=True)
    reset = f.Integer(required=True)
    reserved = f.Integer(required=True)
    bootp = f.Integer(required=True)
    # not named `unknown`: that is marshmallow's own Schema attribute
    unknown_addresses = f.Integer(attribute="unknown", data_key="unknown", required=True,
                                  metadata={"description": "addresses dhcpd has no lease for"})
    disagreements = f.Integer()
    utilization = f.Float(dump_only=True, metadata={"description": "percent bound to clients"})
    runway = f.Dict(keys=f.String(), values=f.Integer(), metadata={
        "description": "addresses each peer can still hand out alone if its partner "
                       "disappears now"})

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> PoolCounts:
        return PoolCounts(**d)


class PoolReportSchema(_ScanReportSchema):
    pools = f.List(f.Nested(PoolCountsSchema), required=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> PoolReport:
        return PoolReport(d["pair"], tuple(d["pools"]), d["scanned_at"], d["source"],
                          d["duration"], dict(d.get("errors", {})))


class PoolHistoryQuerySchema(Strict):
    since = f.AwareDateTime(load_default=None, allow_none=True, default_timezone=None,
                            validate=_in_utc_range,
                            metadata={"description": "RFC 3339 with an offset"})
    limit = f.Integer(load_default=1000, validate=v.Range(min=1, max=10000),
                      metadata={"description": "the newest this many points (pool and scan)"})


class PoolPointSchema(_Base):
    at = f.DateTime(format="iso", metadata={"description": "when the scan was made"})
    pool = f.String()
    total = f.Integer()
    active = f.Integer()
    free = f.Integer(metadata={"description": "owned by the primary"})
    backup = f.Integer(metadata={"description": "owned by the secondary"})
    utilization = f.Float(metadata={"description": "percent bound to clients"})
    runway = f.Dict(keys=f.String(), values=f.Integer(), metadata={
        "description": "addresses each peer could hand out alone at that scan"})


class PoolHistorySchema(_Base):
    pair = f.String()
    retention = f.Float(metadata={"description": "seconds of scans the service keeps"})
    points = f.List(f.Nested(PoolPointSchema), metadata={"description": "oldest first"})
