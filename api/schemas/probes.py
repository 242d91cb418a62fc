"""DHCP probes of a pair's servers (omapifo/_probe.py): the request and one round's answers."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo import PairProbe, ProbeResult, Role

from ._base import Strict, _Model
from .pairs import ROLES


class ProbeRequestSchema(Strict):
    peers = f.List(f.String(validate=v.OneOf(ROLES)), load_default=lambda: list(ROLES),
                   validate=v.Length(min=1, max=2),
                   metadata={"description": "the servers to probe (default both)"})
    timeout = f.Float(load_default=3.0, validate=v.Range(min=0.5, max=10), metadata={
        "description": "seconds to wait for the OFFERs (dhcpd pings first: about 1 s)"})
    secs = f.Integer(load_default=None, allow_none=True, strict=True,
                     validate=v.Range(min=0, max=65535), metadata={
                         "description": "the DISCOVERs' secs field; default one above the "
                         "pair's load balance max seconds (either peer answers); 0: only the "
                         "server the client hashes to"})
    macs = f.Dict(keys=f.String(validate=v.OneOf(ROLES)),
                  # no \Z (not an ECMA-262 pattern, which OpenAPI's are): the length ends it
                  values=f.String(validate=[v.Length(equal=17),
                                            v.Regexp(r"02:6f:6d:70(:[0-9a-f]{2}){2}")]),
                  load_default=dict, metadata={
                      "description": "a server's probe hardware address instead of its own "
                      "(within 02:6f:6d:70:xx:xx)"})


class ProbeResultSchema(_Model):
    role = f.Function(lambda r: str(r.role), deserialize=Role.parse, data_key="peer",
                      required=True)
    server = f.String(required=True, metadata={"description": "where the DISCOVER went"})
    mac = f.String(required=True)
    xid = f.Integer(required=True, metadata={"description": "the DISCOVER's transaction id"})
    at = f.AwareDateTime(format="iso", required=True)
    answered = f.Boolean(required=True, metadata={"description": "an OFFER came back"})
    offered = f.String(allow_none=True)
    pool = f.String(allow_none=True)
    latency = f.Float(allow_none=True, metadata={"description": "seconds"})
    server_id = f.String(allow_none=True)
    lease_time = f.Integer(allow_none=True)
    error = f.String(allow_none=True, metadata={"description": "why no DISCOVER was sent"})
    message = f.Function(lambda r: r.describe(), dump_only=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> ProbeResult:
        return ProbeResult(**d)


class PairProbeSchema(_Model):
    pair = f.String(required=True)
    giaddr = f.String(required=True, metadata={"description": "the relay address sent from"})
    secs = f.Integer(required=True, metadata={"description": "the DISCOVERs' secs field"})
    timeout = f.Float(required=True)
    results = f.List(f.Nested(ProbeResultSchema), required=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> PairProbe:
        return PairProbe(**{**d, "results": tuple(d["results"])})
