"""Host reservations (omapifo/_hosts.py): a host as both peers hold it, both peers' dhcpd.leases
compared host by host, and the bodies of a host's creation, deletion and sync."""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo import Host, HostComparison, HostView, Role

from ._base import Strict, Text, _Confirmed, PeerErrors, _Model


class HostSchema(_Model):
    name = f.String(required=True)
    ip = f.Function(lambda h: str(h.ip) if h.ip else None,
                    deserialize=ipaddress.IPv4Address, allow_none=True)
    mac = f.String(allow_none=True)
    client_id = f.String(allow_none=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> Host:
        return Host(d["name"], d.get("ip"), d.get("mac"), d.get("client_id"))


class HostViewSchema(_Model):
    key = f.String(required=True, metadata={"description": "what was looked up"})
    name = f.String(dump_only=True)
    agree = f.Boolean(dump_only=True, metadata={"description": "both peers hold it, the same"})
    differences = f.List(f.String(), dump_only=True)
    primary = f.Nested(HostSchema, allow_none=True)
    secondary = f.Nested(HostSchema, allow_none=True)
    errors = PeerErrors()

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> HostView:
        return HostView(d["key"], d.get("primary"), d.get("secondary"), d.get("errors", {}))


class HostListSchema(_Model):
    """HostComparison: both peers' dhcpd.leases compared host by host."""

    files = f.Function(lambda c: {str(r): str(path) for r, path in c.files.items()},
                       deserialize=lambda v: {Role.parse(k): Path(p) for k, p in v.items()},
                       required=True, metadata={"description": "the dhcpd.leases read, by peer"})
    hosts = f.Nested(HostViewSchema, many=True, required=True, attribute="views",
                     data_key="hosts")
    one_sided = f.Function(lambda c: [v.name for v in c.one_sided], dump_only=True, metadata={
        "description": "hosts one peer holds and the other lacks (host sync repairs them)"})
    differing = f.Function(lambda c: [v.name for v in c.differing], dump_only=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> HostComparison:
        return HostComparison(d["files"], list(d["views"]))


class HostCreateSchema(_Confirmed):
    name = Text(required=True, validate=v.Length(max=63))
    ip = Text(required=True, validate=v.Length(max=64))
    mac = Text(load_default=None, validate=v.Length(max=64))
    client_id = Text(load_default=None, validate=v.Length(max=512))


class HostDeleteSchema(_Confirmed):
    """The body of a host's deletion from both peers."""


class HostSyncSchema(_Confirmed):
    """The body of a host's sync: created on the peer that lacks it."""


class HostQuerySchema(Strict):
    mac = Text(load_default=None, validate=v.Length(max=64))
    ip = Text(load_default=None, validate=v.Length(max=64))
