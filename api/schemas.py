"""marshmallow schemas: every request and response body of the REST service.

Times are RFC 3339 in UTC; states carry dhcpd's name and number
(``{"name": "communications-interrupted", "number": 3}``).
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo import (ActionResult, Endpoint, Evidence, FailoverState, FailoverStatus, Health,
                     Lease, LeaseState, LeaseView, Level, PairState, PeerView, PoolCounts,
                     PoolReport, Role)
from omapifo import (Host, HostComparison, HostView, LeaseEntry, LeaseList, LeaseMatch,
                     LeaseSearch, MaintenanceReport, MaintenanceStep, Observation, StepOutcome)


class _Base(ma.Schema):
    class Meta:
        ordered = True


class Strict(_Base):
    """Request bodies: unknown fields are an error, not silently dropped."""

    class Meta:
        unknown = ma.RAISE


class QueryBool(f.Boolean):
    """A query-string boolean: exactly true, false, 1 or 0 (marshmallow's Boolean also
    takes yes, on, t, y and their capitals)."""

    truthy = {"true", "1"}
    falsy = {"false", "0"}
    default_error_messages = {"invalid": "must be true, false, 1 or 0"}


class JsonBool(f.Boolean):
    """A JSON-body boolean: only JSON's true and false. marshmallow's Boolean took
    ``{"force": "yes"}`` (or 1, or "true") as force=true."""

    default_error_messages = {"invalid": "must be the JSON boolean true or false"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


class Text(f.String):
    """A string that is valid Unicode text: JSON may carry lone surrogates ("\\ud800"),
    which no UTF-8 column, log line or response can hold."""

    default_error_messages = {"not_utf8": "is not valid UTF-8 text (a lone surrogate)"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("not_utf8") from None
        return text


def _aware(value: str) -> datetime:
    """An RFC 3339 time as an aware datetime (UTC when the text has no offset)."""
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _in_utc_range(value: datetime) -> None:
    try:
        value.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise ma.ValidationError("is outside the range of times (year 1 to 9999 in UTC)") \
            from None


def _state(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"name": str(value), "number": int(value)}


def _failover_state(value: dict[str, Any]) -> FailoverState:
    return FailoverState.decode(int(value["number"]))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _status(attr: str) -> f.Function:
    """One attribute of a peer's failover status (None while it cannot be read)."""
    return f.Function(lambda p: getattr(p.status, attr) if p.status else None,
                      deserialize=int, allow_none=True)


class _Model(_Base):
    """A response schema that also loads: ``dump(obj)`` is the service's JSON and
    ``load(json)`` gives the library's object back (the REST client and the command line
    use that), so no second, hand-written decoder can drift from the schema. Fields the
    library derives (a lease's agreement, a pool's utilisation) are dump-only, and loading
    ignores what it does not know (a newer service may send more)."""

    class Meta:
        ordered = True
        unknown = ma.EXCLUDE


class PeerSchema(_Model):
    role = f.Function(lambda p: str(p.role), deserialize=Role.parse,
                      metadata={"description": "primary or secondary"})
    endpoint = f.Function(lambda p: str(p.endpoint), deserialize=Endpoint.parse)
    reachable = f.Boolean()
    error = f.String(allow_none=True)
    error_kind = f.String(allow_none=True)
    local_state = f.Function(lambda p: _state(p.local_state), deserialize=_failover_state,
                             allow_none=True,
                             metadata={"description": "this server's own failover state"})
    partner_state = f.Function(lambda p: _state(p.partner_state), deserialize=_failover_state,
                               allow_none=True)
    since = f.Function(lambda p: _iso(p.since), deserialize=_aware, allow_none=True)
    partner_since = f.Function(lambda p: _iso(p.status.partner_since) if p.status else None,
                               deserialize=_aware, allow_none=True)
    mclt = _status("mclt")
    max_response_delay = _status("max_response_delay")
    max_outstanding_updates = _status("max_outstanding_updates")
    load_balance_max_secs = _status("load_balance_max_secs")
    cur_unacked_updates = _status("cur_unacked_updates")
    recover_wait_until = f.Function(lambda p: _iso(p.recover_wait_until), dump_only=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> PeerView:
        status = None
        if d["reachable"]:  # the service does not send hierarchy, skew or ports
            status = FailoverStatus(
                name="", local_state=d.get("local_state") or FailoverState.UNKNOWN_STATE,
                partner_state=d.get("partner_state") or FailoverState.UNKNOWN_STATE,
                since=d.get("since"), partner_since=d.get("partner_since"), mclt=d.get("mclt"),
                max_response_delay=d.get("max_response_delay"),
                max_outstanding_updates=d.get("max_outstanding_updates"),
                load_balance_max_secs=d.get("load_balance_max_secs"), hierarchy=None,
                skew=None, cur_unacked_updates=d.get("cur_unacked_updates"))
        return PeerView(d["role"], d["endpoint"], status, d.get("error"), d.get("error_kind"))


class HealthSchema(_Model):
    level = f.Function(lambda h: str(h.level), deserialize=lambda v: Level[str(v).upper()],
                       metadata={"description": "ok, warning, critical"})
    reasons = f.List(f.String())

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> Health:
        return Health(d["level"], tuple(d["reasons"]))


class PairStateSchema(_Model):
    pair = f.String(required=True)
    read_at = f.AwareDateTime(format="iso", required=True)
    health = f.Nested(HealthSchema, required=True)
    primary = f.Nested(PeerSchema, required=True)
    secondary = f.Nested(PeerSchema, required=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> PairState:
        return PairState(d["pair"], d["primary"], d["secondary"], d["read_at"], d["health"])


class PairListSchema(_Base):
    pairs = f.List(f.Nested(PairStateSchema))


class FreshQuerySchema(Strict):
    fresh = QueryBool(load_default=False, metadata={"description": "read OMAPI now"})


class DryRunQuerySchema(Strict):
    dry_run = QueryBool(load_default=False)


class ConfirmSchema(Strict):
    # not required here: a missing confirmation is a 400 from the view, as documented
    confirm = Text(load_default=None, validate=v.Length(max=128),
                   metadata={"description": "the pair's name, to confirm"})
    force = JsonBool(load_default=False)
    reason = Text(load_default=None, allow_none=True, validate=v.Length(max=500))


class ReleaseSchema(Strict):
    confirm = Text(load_default=None, validate=v.Length(max=128),
                   metadata={"description": "the pair's name, to confirm"})


class ActionResultSchema(_Model):
    pair = f.String(required=True)
    role = f.Function(lambda r: str(r.role), deserialize=Role.parse, data_key="peer",
                      required=True)
    action = f.String(required=True)
    done = f.Boolean(required=True)
    dry_run = f.Boolean(required=True)
    message = f.String(required=True)
    force = f.Boolean()
    reason = f.String(allow_none=True)
    at = f.AwareDateTime(format="iso")
    before = f.Nested(PairStateSchema, required=True)
    after = f.Nested(PairStateSchema, allow_none=True)
    evidence = f.Function(lambda r: str(r.evidence) if r.evidence else None,
                          deserialize=Evidence, allow_none=True,
                          metadata={"description": "what omapifo knew of the partner when it "
                                    "decided: readable, dhcpd-stopped, filtered, silent, "
                                    "answers-badly"})
    split_brain = f.Boolean(metadata={"description": "the read after the change shows both "
                                      "peers in partner-down"})

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> ActionResult:
        return ActionResult(**d)


class PageQuerySchema(Strict):
    limit = f.Integer(load_default=50, validate=v.Range(min=1, max=1000))
    offset = f.Integer(load_default=0, validate=v.Range(min=0, max=10**9))


class HistoryQuerySchema(PageQuerySchema):
    since = f.AwareDateTime(load_default=None, allow_none=True, default_timezone=None,
                            validate=_in_utc_range,
                            metadata={"description": "RFC 3339 with an offset"})


class TransitionSchema(_Base):
    at = f.DateTime(format="iso")
    peer = f.String()
    field = f.String()
    from_value = f.String(data_key="from", allow_none=True)
    to_value = f.String(data_key="to", allow_none=True)


class HistorySchema(_Base):
    pair = f.String()
    total = f.Integer()
    limit = f.Integer()
    offset = f.Integer()
    transitions = f.List(f.Nested(TransitionSchema))


class AuditEntrySchema(_Base):
    at = f.DateTime(format="iso")
    actor = f.String()
    pair = f.String()
    peer = f.String()
    action = f.String()
    outcome = f.String()
    force = f.Boolean()
    reason = f.String(allow_none=True)
    detail = f.String(allow_none=True)
    finished_at = f.DateTime(format="iso", allow_none=True, metadata={
        "description": "when the outcome was recorded; null while it is unknown"})


class AuditSchema(_Base):
    total = f.Integer()
    limit = f.Integer()
    offset = f.Integer()
    entries = f.List(f.Nested(AuditEntrySchema))


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
    errors = f.Function(lambda lv: {str(k): e for k, e in lv.errors.items()},
                        deserialize=lambda v: {Role.parse(k): str(e) for k, e in v.items()})

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> LeaseView:
        return LeaseView(d["ip"], d.get("primary"), d.get("secondary"), d.get("errors", {}))


class LeaseQuerySchema(Strict):
    mac = f.String(load_default=None, validate=v.Length(max=64))
    client_id = f.String(load_default=None, validate=v.Length(max=512))


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


class PoolReportSchema(_Model):
    pair = f.String(required=True)
    scanned_at = f.AwareDateTime(format="iso", required=True)
    source = f.String(required=True)
    complete = f.Boolean(dump_only=True)
    duration = f.Float(required=True)
    errors = f.Dict(keys=f.String(), values=f.String())
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


class ProblemSchema(_Base):
    """RFC 9457 problem details."""

    type = f.String(metadata={"description": "about:blank, or urn:omapifo:problem:NAME for "
                              "an omapifo error (docs/rest.md lists them)"})
    title = f.String()
    status = f.Integer()
    detail = f.String()
    errors = f.Dict()
    message = f.String(metadata={"description": "an omapifo error's own message"})
    peer = f.String(allow_none=True)
    operation = f.String(allow_none=True)


ROLES = [str(r) for r in Role]


# -- host reservations (omapifo.hosts) -----------------------------------------------------


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
    errors = f.Function(lambda hv: {str(k): e for k, e in hv.errors.items()},
                        deserialize=lambda v: {Role.parse(k): str(e) for k, e in v.items()})

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


class HostCreateSchema(Strict):
    confirm = Text(load_default=None, validate=v.Length(max=128),
                   metadata={"description": "the pair's name, to confirm"})
    name = Text(required=True, validate=v.Length(max=63))
    ip = Text(required=True, validate=v.Length(max=64))
    mac = Text(load_default=None, validate=v.Length(max=64))
    client_id = Text(load_default=None, validate=v.Length(max=512))


class HostQuerySchema(Strict):
    mac = Text(load_default=None, validate=v.Length(max=64))
    ip = Text(load_default=None, validate=v.Length(max=64))


# -- planned maintenance (omapifo.maintenance) ---------------------------------------------


class MaintenanceSchema(Strict):
    confirm = Text(load_default=None, validate=v.Length(max=128),
                   metadata={"description": "the pair's name, to confirm"})
    reason = Text(load_default=None, allow_none=True, validate=v.Length(max=500),
                  metadata={"description": "why, for the audit trail"})
    wait = f.Float(load_default=60.0, validate=v.Range(min=15, max=300), metadata={
        "description": "seconds to wait for the peer to stop (measured 8-12 s in the lab)"})


_SEEN = ("dhcpd's failover state name, or when the peer cannot be read what the failure "
         "tells: dhcpd-stopped, filtered, silent, answers-badly")


class ObservationSchema(_Model):
    at = f.AwareDateTime(format="iso", required=True)
    primary = f.String(required=True, metadata={"description": _SEEN})
    secondary = f.String(required=True, metadata={"description": _SEEN})
    recover_wait_until = f.AwareDateTime(format="iso", allow_none=True, metadata={
        "description": "a peer in recover-wait: when it may move on (state change + MCLT)"})
    normal = f.Boolean(dump_only=True, metadata={"description": "both peers read normal"})

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> Observation:
        return Observation(**d)


class MaintenanceStepSchema(_Model):
    what = f.String(required=True, metadata={"description": "check, shutdown, wait, "
                                             "partner-down"})
    at = f.AwareDateTime(format="iso", required=True)
    ended = f.AwareDateTime(format="iso", required=True)
    outcome = f.Function(lambda s: str(s.outcome), deserialize=StepOutcome, required=True,
                         metadata={"description": "done, dry-run, no-op, refused, timed-out, "
                                   "failed"})
    message = f.String(required=True)
    seen = f.List(f.Nested(ObservationSchema), metadata={
        "description": "both peers' states during the step, each change once"})

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> MaintenanceStep:
        return MaintenanceStep(**{**d, "seen": tuple(d.get("seen", ()))})


class MaintenanceReportSchema(_Model):
    pair = f.String(required=True)
    role = f.Function(lambda r: str(r.role), deserialize=Role.parse, data_key="peer",
                      required=True)
    dry_run = f.Boolean(required=True)
    completed = f.Boolean(required=True, metadata={
        "description": "the peer is shut down and its partner in partner-down"})
    changed = f.Boolean(dump_only=True, metadata={"description": "something was sent"})
    message = f.String(required=True)
    reason = f.String(allow_none=True)
    steps = f.List(f.Nested(MaintenanceStepSchema), required=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> MaintenanceReport:
        return MaintenanceReport(**{**d, "steps": tuple(d["steps"])})


# -- lease lists and search (omapifo.leaselist) ---------------------------------------------

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


class LeaseListSchema(_Model):
    pair = f.String(required=True)
    scanned_at = f.AwareDateTime(format="iso", required=True)
    source = f.String(required=True)
    duration = f.Float(required=True)
    complete = f.Boolean(dump_only=True)
    errors = f.Dict(keys=f.String(), values=f.String())
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
