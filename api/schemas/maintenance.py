"""Planned maintenance of a peer (omapifo/_maintenance.py): the request, each step with what
both peers were seen in, and the report."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from omapifo import MaintenanceReport, MaintenanceStep, Observation, Role, StepOutcome

from ._base import Text, _Confirmed, _Model


class MaintenanceSchema(_Confirmed):
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
