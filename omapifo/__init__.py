"""omapifo: read, check and operate ISC dhcpd 4.x failover pairs over OMAPI.

    from omapifo import load_config, open_pair, FailoverState, JsonLinesAudit
    pair = open_pair(load_config("omapifo.toml"), "classroom-1-6",
                     audit=JsonLinesAudit("audit.log"))
    st = pair.state()                       # both peers, read concurrently
    st.primary.local_state                  # FailoverState.NORMAL
    str(st.secondary.partner_state)         # "normal", as dhcpd logs it
    st.health.level, st.health.reasons      # ok / warning / critical, and why
    pair.partner_down("secondary")          # guarded, audited: refuses unless it is safe

Every module of omapifo/ is private (``_name``): the public names are the ones below in
``__all__`` (tests/test_exported_members.py pins them), and api/, clients/ and lab/ use
only those. Layers, each depending only on those before it (tests/test_layers.py checks
the imports):

- protocol: ``_omapi`` (the one connection to a dhcpd, and the OMAPI objects, attributes,
  lookups and changes the library uses, with the parsers of addresses, MACs and client
  ids), ``_scan`` (pipelined lease lookups), ``_budget`` (each dhcpd's scan budget),
  ``_errors``;
- model: ``_states``, ``_severity`` (levels and health), ``_evidence``, ``_config``,
  ``_pairlock``, ``_dhcpdconf``, ``_leasefile``, ``_untrusted``, ``_pairstate``,
  ``_bothpeers`` (an object as both peers see it), ``_leases``, ``_hosts``,
  ``_scanreport`` (what a scan found), ``_pairaccess`` (what operations need of a pair),
  ``_audit``, ``_faults`` (test-only fault points);
- wire: ``_wire`` (OMAPI objects decoded into the models; with _omapi and _scan the only
  modules that name an OMAPI attribute);
- operations: ``_attempt`` (the audited change: the only sender), ``_guards`` (every
  decision), ``_lookups`` (a lease or host on both peers), the actions (``_partnerdown``,
  ``_shutdown``, ``_release``, ``_hostactions``, ``_maintenance``), ``_health``, ``_pools``,
  ``_leaselist``, ``_confcheck``, ``_contract`` (the pair contract every implementation
  offers), ``_failover`` (the pair over OMAPI: its connections and state, opening attempts
  and handing them to the actions) and ``_doctor``;
- interfaces: ``omapifo.api`` (REST service), ``omapifo.clients`` (client and command line).
"""
import logging as _logging

from ._audit import AuditRecord, AuditSink, JsonLinesAudit, Outcome, clean_text
from ._budget import RateBudget
from ._config import (Config, DrillConfig, Endpoint, PairConfig, ServiceConfig, TokenConfig,
                      load_config, read_secret_file)
from ._errors import (
    ActionBusy,
    AuditUnavailable,
    AuthenticationFailed,
    ConfigError,
    ConnectionRefused,
    ConnectionRejected,
    ConvergenceError,
    HostRefused,
    NotFound,
    OmapifoError,
    OperationRefused,
    PartialChange,
    PartnerDownRefused,
    PeerError,
    PeerTimeout,
    PeerUnreachable,
    ProbeError,
    ProtocolError,
    Refused,
    ReleaseRefused,
    UnknownPair,
    Unsupported,
    from_problem_type,
)
from ._contract import EVERY_OPERATION, Operation, Pair, require
from ._evidence import Evidence
from ._failover import FailoverPair, open_pair
from ._pairstate import ActionResult, PairState, PeerView
from ._severity import PEER_CRITICAL_AFTER, Health, Level
from ._health import assess as assess_health, format_duration, state_level
from ._leases import Lease, LeaseState, LeaseView
from ._maintenance import (DEFAULT_STOP_WAIT, MaintenanceReport, MaintenanceStep, Observation,
                           OnStep, StepOutcome, follow_recovery)
from ._omapi import OmapiKey, OmapiPeer, parse_ip
from ._scan import Progress, lease_states
from ._pools import PoolCounts, PoolReport, pools_from_files
from ._probe import MAC_PREFIX as PROBE_MAC_PREFIX, PairProbe, ProbeResult, probe_mac
from ._drill import DrillReport, DrillStep, command_start, run_drill
from ._leaselist import (LeaseEntry, LeaseList, LeaseMatch, LeaseSearch, find_leases,
                         leases_from_file)
from ._dhcpdconf import DhcpdConf, DhcpdConfError, parse_file as parse_dhcpd_conf
from ._confcheck import Finding, check_pair, worst as worst_severity
from ._doctor import DoctorReport, diagnose, next_step as doctor_next_step
from ._states import FailoverState, FailoverStatus, Role
from ._hosts import Host, HostComparison, HostView, compare_host_files
from ._untrusted import csv_cell, json_string, json_text, printable, visible
from ._faults import configure as configure_faults  # test-only: OMAPIFO_FAULTS

# A library logs, it does not print: applications attach their own handlers.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "ActionBusy",
    "ActionResult",
    "AuditRecord",
    "AuditSink",
    "AuditUnavailable",
    "AuthenticationFailed",
    "Config",
    "ConfigError",
    "ConnectionRefused",
    "ConnectionRejected",
    "ConvergenceError",
    "DEFAULT_STOP_WAIT",
    "DhcpdConf",
    "DhcpdConfError",
    "DoctorReport",
    "DrillConfig",
    "DrillReport",
    "DrillStep",
    "EVERY_OPERATION",
    "Endpoint",
    "Evidence",
    "FailoverPair",
    "FailoverState",
    "FailoverStatus",
    "Finding",
    "Health",
    "Host",
    "HostComparison",
    "HostRefused",
    "HostView",
    "JsonLinesAudit",
    "Lease",
    "LeaseEntry",
    "LeaseList",
    "LeaseMatch",
    "LeaseSearch",
    "LeaseState",
    "LeaseView",
    "Level",
    "MaintenanceReport",
    "MaintenanceStep",
    "NotFound",
    "Observation",
    "OmapiKey",
    "OmapiPeer",
    "OmapifoError",
    "OnStep",
    "Operation",
    "OperationRefused",
    "Outcome",
    "PEER_CRITICAL_AFTER",
    "PROBE_MAC_PREFIX",
    "Pair",
    "PairConfig",
    "PairProbe",
    "PairState",
    "PartialChange",
    "PartnerDownRefused",
    "PeerError",
    "PeerTimeout",
    "PeerUnreachable",
    "PeerView",
    "PoolCounts",
    "PoolReport",
    "ProbeError",
    "ProbeResult",
    "Progress",
    "ProtocolError",
    "RateBudget",
    "Refused",
    "ReleaseRefused",
    "Role",
    "ServiceConfig",
    "StepOutcome",
    "TokenConfig",
    "UnknownPair",
    "Unsupported",
    "assess_health",
    "check_pair",
    "clean_text",
    "command_start",
    "compare_host_files",
    "configure_faults",
    "csv_cell",
    "diagnose",
    "doctor_next_step",
    "find_leases",
    "follow_recovery",
    "format_duration",
    "from_problem_type",
    "json_string",
    "json_text",
    "lease_states",
    "leases_from_file",
    "load_config",
    "open_pair",
    "parse_dhcpd_conf",
    "parse_ip",
    "pools_from_files",
    "printable",
    "probe_mac",
    "read_secret_file",
    "require",
    "run_drill",
    "state_level",
    "visible",
    "worst_severity",
]
