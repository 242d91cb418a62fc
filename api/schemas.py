"""marshmallow schemas: every request and response body of the REST service.

Times are RFC 3339 in UTC; states carry dhcpd's name and number
(``{"name": "communications-interrupted", "number": 3}``).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo.states import Role


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


def _in_utc_range(value: datetime) -> None:
    try:
        value.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
        raise ma.ValidationError("is outside the range of times (year 1 to 9999 in UTC)") \
            from None


def _state(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"name": str(value), "number": int(value)}


class PeerSchema(_Base):
    role = f.Function(lambda p: str(p.role), metadata={"description": "primary or secondary"})
    endpoint = f.Function(lambda p: str(p.endpoint))
    reachable = f.Boolean()
    error = f.String(allow_none=True)
    error_kind = f.String(allow_none=True)
    local_state = f.Function(lambda p: _state(p.local_state), allow_none=True,
                             metadata={"description": "this server's own failover state"})
    partner_state = f.Function(lambda p: _state(p.partner_state), allow_none=True)
    since = f.Function(lambda p: p.since.isoformat() if p.since else None, allow_none=True)
    partner_since = f.Function(lambda p: p.status.partner_since.isoformat()
                               if p.status and p.status.partner_since else None)
    mclt = f.Function(lambda p: p.status.mclt if p.status else None)
    max_response_delay = f.Function(lambda p: p.status.max_response_delay if p.status else None)
    max_outstanding_updates = f.Function(
        lambda p: p.status.max_outstanding_updates if p.status else None)
    load_balance_max_secs = f.Function(
        lambda p: p.status.load_balance_max_secs if p.status else None)
    cur_unacked_updates = f.Function(lambda p: p.status.cur_unacked_updates if p.status else None)
    recover_wait_until = f.Function(
        lambda p: p.recover_wait_until.isoformat() if p.recover_wait_until else None)


class HealthSchema(_Base):
    level = f.Function(lambda h: str(h.level), metadata={"description": "ok, warning, critical"})
    reasons = f.List(f.String())


class PairStateSchema(_Base):
    pair = f.String()
    read_at = f.DateTime(format="iso")
    health = f.Nested(HealthSchema)
    primary = f.Nested(PeerSchema)
    secondary = f.Nested(PeerSchema)


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


class ActionResultSchema(_Base):
    pair = f.String()
    peer = f.Function(lambda r: str(r.role))
    action = f.String()
    done = f.Boolean()
    dry_run = f.Boolean()
    message = f.String()
    force = f.Boolean()
    reason = f.String(allow_none=True)
    at = f.DateTime(format="iso")
    before = f.Nested(PairStateSchema)
    after = f.Nested(PairStateSchema, allow_none=True)
    evidence = f.Function(lambda r: str(r.evidence) if r.evidence else None, allow_none=True,
                          metadata={"description": "what omapifo knew of the partner when it "
                                    "decided: readable, dhcpd-stopped, silent, answers-badly"})
    split_brain = f.Boolean(metadata={"description": "the read after the change shows both "
                                      "peers in partner-down"})


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


class LeaseSchema(_Base):
    ip = f.Function(lambda le: str(le.ip))
    state = f.Function(lambda le: _state(le.state))
    hardware_address = f.String(allow_none=True)
    client_id = f.String(allow_none=True)
    client_hostname = f.String(allow_none=True)
    starts = f.DateTime(format="iso", allow_none=True)
    ends = f.DateTime(format="iso", allow_none=True)
    tstp = f.DateTime(format="iso", allow_none=True)
    tsfp = f.DateTime(format="iso", allow_none=True)
    atsfp = f.DateTime(format="iso", allow_none=True)
    cltt = f.DateTime(format="iso", allow_none=True)


class LeaseViewSchema(_Base):
    ip = f.Function(lambda lv: str(lv.ip))
    state = f.Function(lambda lv: _state(lv.state))
    agree = f.Boolean()
    differences = f.List(f.String())
    serving = f.Function(lambda lv: str(lv.serving) if lv.serving else None)
    primary = f.Nested(LeaseSchema, allow_none=True)
    secondary = f.Nested(LeaseSchema, allow_none=True)
    errors = f.Function(lambda lv: {str(k): e for k, e in lv.errors.items()})


class LeaseQuerySchema(Strict):
    mac = f.String(load_default=None, validate=v.Length(max=64))
    client_id = f.String(load_default=None, validate=v.Length(max=512))


class PoolCountsSchema(_Base):
    name = f.String()
    subnet = f.String(allow_none=True)
    ranges = f.Function(lambda p: [list(r) for r in p.ranges])
    failover_peer = f.String(allow_none=True)
    total = f.Integer()
    active = f.Integer()
    free = f.Integer(metadata={"description": "owned by the primary"})
    backup = f.Integer(metadata={"description": "owned by the secondary"})
    expired = f.Integer()
    released = f.Integer()
    abandoned = f.Integer()
    reset = f.Integer()
    reserved = f.Integer()
    bootp = f.Integer()
    # not named `unknown`: that is marshmallow's own Schema attribute
    unknown_addresses = f.Integer(attribute="unknown", data_key="unknown",
                                  metadata={"description": "addresses dhcpd has no lease for"})
    disagreements = f.Integer()
    utilization = f.Float(metadata={"description": "percent bound to clients"})
    runway = f.Dict(keys=f.String(), values=f.Integer(), metadata={
        "description": "addresses each peer can still hand out alone if its partner "
                       "disappears now"})


class PoolReportSchema(_Base):
    pair = f.String()
    scanned_at = f.DateTime(format="iso")
    source = f.String()
    complete = f.Boolean()
    duration = f.Float()
    errors = f.Dict(keys=f.String(), values=f.String())
    pools = f.List(f.Nested(PoolCountsSchema))


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
