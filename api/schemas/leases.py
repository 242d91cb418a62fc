"""Leases: one address as both peers hold it, the lookup by MAC or client id, the release,
and the pair's lease list (paged by an opaque cursor) and the search across pairs
(omapifo/_leaselist.py)."""
from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo import (Lease, LeaseEntry, LeaseList, LeaseMatch, LeaseSearch, LeaseState,
                     LeaseView, Role)

from ._base import PeerErrors, Strict, Text, _Confirmed, _Model, _ScanReportSchema, _state


class LeaseSchema(_Model):
    ip = f.Function(lambda le: str(le.ip), deserialize=ipaddress.IPv4Address, required=True)
    state = f.Function(lambda le: _state(le.state),
                       deserialize=lambda v: LeaseState(int(v["number"])), allow_none=True)
    hardware_address = f.String(allow_none=True)
    client_id = f.String(allow_none=True)
    client_hostname = f.String(allow_none=True)
    starts = f.AwareDateTime(format="iso", allow_none=True)
    ends = f.AwareDateTime(format="iso", allow_none=True)
    tstp = f.AwareDateTime(format="iso", allow_none=True)
    tsfp = f.AwareDateTime(format="iso", allow_none=True)
    atsfp = f.AwareDateTime(format="iso", allow_none=True)
    cltt = f.AwareDateTime(format="iso", allow_none=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> Lease:
        fields = ("state", "hardware_address", "client_id", "client_hostname", "starts",
                  "ends", "tstp", "tsfp", "atsfp", "cltt")
        return Lease(d["ip"], **{k: d.get(k) for k in fields})


class LeaseViewSchema(_Model):
    ip = f.Function(lambda lv: str(lv.ip), deserialize=ipaddress.IPv4Address, required=True)
    state = f.Function(lambda lv: _state(lv.state), dump_only=True)
    agree = f.Boolean(dump_only=True)
    differences = f.List(f.String(), dump_only=True)
    serving = f.Function(lambda lv: str(lv.serving) if lv.serving else None, dump_only=True)
    primary = f.Nested(LeaseSchema, allow_none=True)
    secondary = f.Nested(LeaseSchema, allow_none=True)
    errors = PeerErrors()

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> LeaseView:
        return LeaseView(d["ip"], d.get("primary"), d.get("secondary"), d.get("errors", {}))


class LeaseQuerySchema(Strict):
    mac = f.String(load_default=None, validate=v.Length(max=64))
    client_id = f.String(load_default=None, validate=v.Length(max=512))


class ReleaseSchema(_Confirmed):
    """The body of a lease's release."""


_CURSOR_VERSION = b"\x01"


def encode_cursor(after: ipaddress.IPv4Address | None) -> str | None:
    """The opaque cursor of a page: where the next one starts (base64url, no padding)."""
    if after is None:
        return None
    return base64.urlsafe_b64encode(_CURSOR_VERSION + after.packed).rstrip(b"=").decode()


def decode_cursor(text: str) -> ipaddress.IPv4Address:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 5 or raw[:1] != _CURSOR_VERSION:
        raise ma.ValidationError("is not a cursor this service gave out: pass a page's "
                                 "next_cursor unchanged")
    return ipaddress.IPv4Address(raw[1:])


class Cursor(f.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        return decode_cursor(super()._deserialize(value, attr, data, **kwargs))


def _lease_state(value: dict[str, Any] | None) -> LeaseState | None:
    return None if value is None else LeaseState(int(value["number"]))


class LeaseListQuerySchema(LeaseQuerySchema):
    """``?mac=`` or ``?client_id=``: one lease (the lookup form, a LeaseView). Otherwise a
    page of the pair's lease list."""

    subnet = Text(load_default=None, validate=v.Length(max=43),
                  metadata={"description": "only addresses in this network (198.18.11.0/24)"})
    state = f.String(load_default=None, validate=v.OneOf([str(s) for s in LeaseState]),
                     metadata={"description": "only leases in this binding state (the pair's)"})
    hostname = Text(load_default=None, validate=v.Length(min=1, max=253), metadata={
        "description": "client hostname or shell pattern (lab-*), case-blind"})
    limit = f.Integer(load_default=500, validate=v.Range(min=1, max=5000))
    cursor = Cursor(load_default=None, metadata={
        "description": "a previous page's next_cursor: the page after it"})


class LeaseEntrySchema(_Model):
    ip = f.Function(lambda e: str(e.ip), deserialize=ipaddress.IPv4Address, required=True)
    state = f.Function(lambda e: _state(e.state), deserialize=_lease_state, allow_none=True,
                       metadata={"description": "the pair's: active if either peer says so"})
    hardware_address = f.String(allow_none=True)
    client_hostname = f.String(allow_none=True)
    starts = f.AwareDateTime(format="iso", allow_none=True)
    ends = f.AwareDateTime(format="iso", allow_none=True)
    served_by = f.Function(lambda e: str(e.served_by) if e.served_by else None,
                           deserialize=Role.parse, allow_none=True,
                           metadata={"description": "the peer that served the client"})
    primary_state = f.Function(lambda e: _state(e.primary_state), deserialize=_lease_state,
                               allow_none=True)
    secondary_state = f.Function(lambda e: _state(e.secondary_state),
                                 deserialize=_lease_state, allow_none=True)
    disagree = f.Boolean(dump_only=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> LeaseEntry:
        return LeaseEntry(d["ip"], d.get("state"), d.get("hardware_address"),
                          d.get("client_hostname"), d.get("starts"), d.get("ends"),
                          d.get("served_by"), d.get("primary_state"), d.get("secondary_state"))


class LeaseListSchema(_ScanReportSchema):
    leases = f.List(f.Nested(LeaseEntrySchema), required=True)
    next_cursor = f.Function(lambda ll: encode_cursor(ll.next_after), deserialize=decode_cursor,
                             attribute="next_after", allow_none=True, metadata={
                                 "description": "the next page's cursor; null on the last"})

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> LeaseList:
        return LeaseList(d["pair"], tuple(d["leases"]), d["scanned_at"], d["source"],
                         d["duration"], dict(d.get("errors", {})), d.get("next_after"))


class LeaseMatchSchema(_Model):
    pair = f.String(required=True)
    lease = f.Nested(LeaseEntrySchema, required=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> LeaseMatch:
        return LeaseMatch(d["pair"], d["lease"])


class LeaseSearchSchema(_Model):
    query = f.String(required=True)
    kind = f.String(required=True, metadata={"description": "ip, mac or hostname"})
    matches = f.List(f.Nested(LeaseMatchSchema), required=True)
    errors = f.Dict(keys=f.String(), values=f.String(),
                    metadata={"description": "pair -> why it could not be searched"})
    truncated = f.Boolean(load_default=False, metadata={
        "description": "the search stopped at its limit of matches (1000): more may match"})

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> LeaseSearch:
        return LeaseSearch(d["query"], d["kind"], tuple(d["matches"]), dict(d.get("errors", {})),
                           d["truncated"])


class LeaseFindQuerySchema(Strict):
    q = Text(required=True, validate=v.Length(min=1, max=253),
             metadata={"description": "an IP address, a MAC address or a client hostname "
                                      "(pattern)"})
