"""A failover drill's report (omapifo/_drill.py): each step with its time, the states seen
and the probes' answers; what `omapifo drill --json` prints and the service keeps."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields as f

from omapifo import DrillReport, DrillStep, Role

from ._base import _Model
from .maintenance import MaintenanceReportSchema, ObservationSchema
from .probes import ProbeResultSchema


class DrillStepSchema(_Model):
    what = f.String(required=True, metadata={"description": "probe before, maintenance, "
                                             "survivor serves, start, recovery, probe after"})
    at = f.AwareDateTime(format="iso", required=True)
    ended = f.AwareDateTime(format="iso", required=True)
    ok = f.Boolean(required=True)
    message = f.String(required=True)
    seen = f.List(f.Nested(ObservationSchema), metadata={
        "description": "both peers' states during the step, each change once"})
    probes = f.List(f.Nested(ProbeResultSchema), metadata={
        "description": "the DHCP probes of the step and their answers"})

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> DrillStep:
        return DrillStep(**{**d, "seen": tuple(d.get("seen", ())),
                            "probes": tuple(d.get("probes", ()))})


class DrillReportSchema(_Model):
    pair = f.String(required=True)
    role = f.Function(lambda r: str(r.role), deserialize=Role.parse, data_key="peer",
                      required=True)
    completed = f.Boolean(required=True, metadata={"description": "every step went as it "
                                                   "should"})
    message = f.String(required=True)
    reason = f.String(allow_none=True)
    steps = f.List(f.Nested(DrillStepSchema), required=True)
    maintenance = f.Nested(MaintenanceReportSchema, allow_none=True)

    @ma.post_load
    def _make(self, d: dict[str, Any], **kw: Any) -> DrillReport:
        return DrillReport(**{**d, "steps": tuple(d["steps"])})
