"""omapifo: read, check and operate ISC dhcpd 4.x failover pairs over OMAPI.

    from omapifo import load_config, open_pair, FailoverState, JsonLinesAudit
    pair = open_pair(load_config("omapifo.toml"), "classroom-1-6",
                     audit=JsonLinesAudit("audit.log"))
    st = pair.state()                       # both peers, read concurrently
    st.primary.local_state                  # FailoverState.NORMAL
    str(st.secondary.partner_state)         # "normal", as dhcpd logs it
    st.health.level, st.health.reasons      # ok / warning / critical, and why
    pair.partner_down("secondary")          # guarded, audited: refuses unless it is safe

Layers, each depending only on those before it (tests/test_layers.py checks the imports):

- protocol: :mod:`omapifo.omapi` (the one connection to a dhcpd, and the OMAPI objects,
  attributes, lookups and changes the library uses, with the parsers of addresses, MACs
  and client ids), :mod:`omapifo.scan` (pipelined lease lookups), ``budget``, ``errors``;
- model: :mod:`omapifo.states`, :mod:`omapifo.leases`, :mod:`omapifo.hosts`,
  :mod:`omapifo.pairstate`, :mod:`omapifo.evidence`, ``config``, ``dhcpdconf``,
  ``leasefile``, ``audit``, and :mod:`omapifo.pairaccess` (what operations need of a pair);
- wire: :mod:`omapifo.wire` (OMAPI objects decoded into the models; with omapi.py and
  scan.py the only modules that name an OMAPI attribute);
- operations: :mod:`omapifo.lookups` (a lease or host on both peers),
  :mod:`omapifo.attempt` (the audited change: the only sender), :mod:`omapifo.guards`
  (every decision), the actions (:mod:`omapifo.partnerdown`, :mod:`omapifo.shutdown`,
  :mod:`omapifo.release`, :mod:`omapifo.hostactions`, :mod:`omapifo.maintenance`), pools,
  lease lists, health, configuration checks, and :mod:`omapifo.failover` (the pair: its
  connections and state, opening attempts and handing them to the actions);
- interfaces: ``omapifo.api`` (REST service), ``omapifo.clients`` (client and command line).
"""
import logging as _logging

from .audit import AuditRecord, AuditSink, JsonLinesAudit, Outcome
from .config import Config, Endpoint, PairConfig, ServiceConfig, TokenConfig, load_config
from .errors import (
    ActionBusy,
    AuditUnavailable,
    AuthenticationFailed,
    ConfigError,
    ConnectionRefused,
    ConnectionRejected,
    ConvergenceError,
    NotFound,
    OmapifoError,
    OperationRefused,
    PartnerDownRefused,
    PeerError,
    PeerTimeout,
    PeerUnreachable,
    ProtocolError,
    Refused,
    ReleaseRefused,
    Unsupported,
)
from .contract import Operation, Pair, require
from .evidence import Evidence
from .failover import FailoverPair, open_pair
from .pairstate import ActionResult, PairState, PeerView
from .severity import Health, Level
from .leases import Lease, LeaseState, LeaseView
from .maintenance import MaintenanceReport, MaintenanceStep, Observation, StepOutcome
from .omapi import OmapiKey, OmapiPeer
from .pools import PoolCounts, PoolReport, pools_from_files
from .leaselist import (LeaseEntry, LeaseList, LeaseMatch, LeaseSearch, find_leases,
                        leases_from_file)
from .dhcpdconf import DhcpdConf, DhcpdConfError, parse_file as parse_dhcpd_conf
from .states import FailoverState, FailoverStatus, Role
from .errors import HostRefused, PartialChange
from .hosts import Host, HostComparison, HostView, compare_host_files

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
    "DhcpdConf",
    "DhcpdConfError",
    "Endpoint",
    "Evidence",
    "FailoverPair",
    "FailoverState",
    "FailoverStatus",
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
    "Operation",
    "OperationRefused",
    "Outcome",
    "Pair",
    "PairConfig",
    "PairState",
    "PartialChange",
    "PartnerDownRefused",
    "PeerError",
    "PeerTimeout",
    "PeerUnreachable",
    "PeerView",
    "PoolCounts",
    "PoolReport",
    "ProtocolError",
    "Refused",
    "ReleaseRefused",
    "Role",
    "ServiceConfig",
    "StepOutcome",
    "TokenConfig",
    "Unsupported",
    "compare_host_files",
    "find_leases",
    "leases_from_file",
    "load_config",
    "open_pair",
    "parse_dhcpd_conf",
    "pools_from_files",
    "require",
]
