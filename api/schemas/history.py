"""What the service records: a pair's state transitions and the audit trail, each read a
page at a time."""
from __future__ import annotations

from marshmallow import fields as f
from marshmallow import validate as v

from ._base import Strict, _Base, _in_utc_range


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
