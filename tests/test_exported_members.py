"""The public names of ``omapifo``: exactly these, each defined, ``__all__`` sorted.

A name added to or dropped from the public surface shows up here as a deliberate change.
"""
from __future__ import annotations

import omapifo

PUBLIC = {
    # pairs and their state; the contract every implementation of a pair offers
    "FailoverPair", "open_pair", "Pair", "Operation", "require", "Unsupported", "UnknownPair",
    "EVERY_OPERATION", "OnStep", "Progress",
    "PairState", "PeerView", "ActionResult", "Health", "Level",
    "FailoverState", "FailoverStatus", "Role", "Evidence",
    # rating a pair's health, as the service and `omapifo check` do
    "assess_health", "state_level", "format_duration", "PEER_CRITICAL_AFTER",
    # leases and pools
    "Lease", "LeaseState", "LeaseView", "PoolCounts", "PoolReport", "pools_from_files",
    "LeaseEntry", "LeaseList", "LeaseMatch", "LeaseSearch", "find_leases", "leases_from_file",
    "lease_states", "RateBudget",
    # DHCP probes: does each server answer a client
    "PairProbe", "ProbeResult", "ProbeError", "probe_mac", "PROBE_MAC_PREFIX",
    # failover drills: a planned maintenance checked with probes
    "DrillReport", "DrillStep", "run_drill", "command_start", "DrillConfig",
    # configuration
    "Config", "PairConfig", "ServiceConfig", "TokenConfig", "Endpoint", "load_config",
    "DhcpdConf", "DhcpdConfError", "parse_dhcpd_conf", "read_secret_file",
    # checking both servers' configurations, and the doctor
    "Finding", "check_pair", "worst_severity", "DoctorReport", "diagnose", "doctor_next_step",
    # OMAPI
    "OmapiKey", "OmapiPeer", "parse_ip",
    # the audit trail
    "AuditRecord", "AuditSink", "JsonLinesAudit", "Outcome", "clean_text",
    # text from dhcpd and its clients, made harmless to show
    "visible", "printable", "json_text", "json_string", "csv_cell",
    # errors
    "OmapifoError", "ConfigError", "PeerError", "PeerUnreachable", "PeerTimeout",
    "ConnectionRefused", "ConnectionRejected", "AuthenticationFailed", "NotFound", "Refused",
    "ProtocolError",
    "OperationRefused", "PartnerDownRefused", "ReleaseRefused", "ActionBusy",
    "AuditUnavailable", "ConvergenceError", "from_problem_type",
    # host reservations
    "Host", "HostComparison", "HostView", "compare_host_files", "HostRefused", "PartialChange",
    # planned maintenance
    "MaintenanceReport", "MaintenanceStep", "Observation", "StepOutcome",
    "DEFAULT_STOP_WAIT", "follow_recovery",
    # test-only fault injection (OMAPIFO_FAULTS), for the command line and the service
    "configure_faults",
}


def test_the_public_names_are_exactly_these():
    assert set(omapifo.__all__) == PUBLIC


def test_every_public_name_is_defined_and_all_is_sorted():
    for name in omapifo.__all__:
        assert getattr(omapifo, name) is not None, name
    assert omapifo.__all__ == sorted(omapifo.__all__)


def test_nothing_else_public_is_exported_by_star_import():
    namespace: dict[str, object] = {}
    exec("from omapifo import *", namespace)  # noqa: S102 - what a user's star import gets
    assert {k for k in namespace if not k.startswith("__")} == PUBLIC
