"""A pair and its peers: the state read, the health, the guarded peer actions (partner-down,
shutdown) and their result, and the query strings of a pair's reads and changes."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo import (ActionResult, Endpoint, Evidence, FailoverState, FailoverStatus, Health,
                     Level, PairState, PeerView, Role)

from ._base import (JsonBool, QueryBool, Strict, Text, _aware, _Base, _Confirmed, _iso, _Model,
                    _state)

ROLES = [str(r) for r in Role]


def _failover_state(value: dict[str, Any]) -> FailoverState:
    return FailoverState.decode(int(value["number"]))


def _status(attr: str) -> f.Function:
    """One attribute of a peer's failover status (None while it cannot be read)."""
    return f.Function(lambda p: getattr(p.status, attr) if p.status else None,
                      deserialize=int, allow_none=True)


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


class ConfirmSchema(_Confirmed):
    """The body of a guarded peer action (partner-down, shutdown)."""

    force = JsonBool(load_default=False)
    reason = Text(load_default=None, allow_none=True, validate=v.Length(max=500))


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
