"""marshmallow schemas: every request and response body of the REST service, one module a
resource:

- ``pairs``: a pair's state (peers, health), the pair list, the query strings of a pair's
  reads and changes (``?fresh=``, ``?dry_run=``), the peer actions' body and result;
- ``leases``: a lease as both peers hold it, the lookup, the release, the lease list with
  its cursor (``encode_cursor``, ``decode_cursor``), the search across pairs;
- ``pools``: pool counts, the pool report, the pool history;
- ``hosts``: host reservations, their list, the bodies of create, delete and sync;
- ``maintenance``: planned maintenance's request, steps, observations and report;
- ``history``: state transitions and the audit trail, a page at a time;
- ``probes``: a DHCP probe round's request and answers;
- ``drills``: a failover drill's report;
- ``problems``: the problem details of every error;
- ``_base``: the bases and the fields the others are built from.

Times are RFC 3339 in UTC; states carry dhcpd's name and number
(``{"name": "communications-interrupted", "number": 3}``). Response schemas load as well
as dump: the REST client decodes the service's JSON with them. The modules import
marshmallow and the library only, never Flask. The names are re-exported here, each from
its module, for ``from omapifo.api import schemas as s``.
"""
from __future__ import annotations

from .drills import DrillReportSchema, DrillStepSchema
from .history import (AuditEntrySchema, AuditSchema, HistoryQuerySchema, HistorySchema,
                      PageQuerySchema, TransitionSchema)
from .hosts import (HostCreateSchema, HostDeleteSchema, HostListSchema, HostQuerySchema,
                    HostSchema, HostSyncSchema, HostViewSchema)
from .leases import (LeaseEntrySchema, LeaseFindQuerySchema, LeaseListQuerySchema,
                     LeaseListSchema, LeaseMatchSchema, LeaseQuerySchema, LeaseSchema,
                     LeaseSearchSchema, LeaseViewSchema, ReleaseSchema, decode_cursor,
                     encode_cursor)
from .maintenance import (MaintenanceReportSchema, MaintenanceSchema, MaintenanceStepSchema,
                          ObservationSchema)
from .pairs import (ROLES, ActionResultSchema, ConfirmSchema, DryRunQuerySchema,
                    FreshQuerySchema, HealthSchema, PairListSchema, PairStateSchema,
                    PeerSchema)
from .pools import (PoolCountsSchema, PoolHistoryQuerySchema, PoolHistorySchema,
                    PoolPointSchema, PoolReportSchema)
from .probes import PairProbeSchema, ProbeRequestSchema, ProbeResultSchema
from .problems import ProblemSchema

__all__ = [
    # drills
    "DrillReportSchema", "DrillStepSchema",
    # history
    "AuditEntrySchema", "AuditSchema", "HistoryQuerySchema", "HistorySchema",
    "PageQuerySchema", "TransitionSchema",
    # hosts
    "HostCreateSchema", "HostDeleteSchema", "HostListSchema", "HostQuerySchema", "HostSchema",
    "HostSyncSchema", "HostViewSchema",
    # leases
    "LeaseEntrySchema", "LeaseFindQuerySchema", "LeaseListQuerySchema", "LeaseListSchema",
    "LeaseMatchSchema", "LeaseQuerySchema", "LeaseSchema", "LeaseSearchSchema",
    "LeaseViewSchema", "ReleaseSchema", "decode_cursor", "encode_cursor",
    # maintenance
    "MaintenanceReportSchema", "MaintenanceSchema", "MaintenanceStepSchema",
    "ObservationSchema",
    # pairs
    "ROLES", "ActionResultSchema", "ConfirmSchema", "DryRunQuerySchema", "FreshQuerySchema",
    "HealthSchema", "PairListSchema", "PairStateSchema", "PeerSchema",
    # pools
    "PoolCountsSchema", "PoolHistoryQuerySchema", "PoolHistorySchema", "PoolPointSchema",
    "PoolReportSchema",
    # probes
    "PairProbeSchema", "ProbeRequestSchema", "ProbeResultSchema",
    # problems
    "ProblemSchema",
]
