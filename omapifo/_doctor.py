"""``doctor``: configuration findings plus the live pair, ending with one next step.

OMAPI's ``skew`` is never filled in by dhcpd 4.4.3, so nothing here presents it as a
clock measurement; dhcpd refuses a failover connection when the clocks differ by more
than 60 s, which the report mentions when the peers cannot connect.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ._confcheck import Finding, check_pair
from ._dhcpdconf import DhcpdConfError
from ._errors import OmapifoError
from ._failover import FailoverPair
from ._health import format_duration
from ._pairstate import PairState
from ._pools import PoolReport
from ._severity import Level
from ._states import Role


@dataclass
class DoctorReport:
    pair: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not checked, and why
    state: PairState | None = None
    live: list[str] = field(default_factory=list)
    pools: list[str] = field(default_factory=list)
    next_step: str = ""


def diagnose(pair: FailoverPair, *, run_dhcpd: bool = True, scan: bool = True) -> DoctorReport:
    rep = DoctorReport(pair.name)
    cfg = pair.config
    if cfg.dhcpd_conf and cfg.secondary_dhcpd_conf:
        rep.findings = check_pair(cfg.dhcpd_conf, cfg.secondary_dhcpd_conf, run_dhcpd=run_dhcpd)
    elif cfg.dhcpd_conf:
        rep.notes.append("only the primary's dhcpd.conf is configured (set "
                         "secondary_dhcpd_conf to compare both servers' files)")
    else:
        rep.notes.append("no dhcpd_conf configured: configuration and pools not checked")

    st = rep.state = pair.state()
    now = st.read_at
    for role in Role:
        v = st.peer(role)
        if not v.reachable:
            rep.live.append(f"{role} ({v.endpoint}): does not answer OMAPI: {v.error}")
            continue
        age = (now - v.since).total_seconds() if v.since else None
        line = (f"{role} ({v.endpoint}): {v.local_state} for {format_duration(age)}, "
                f"sees its partner as {v.partner_state}")
        if v.recover_wait_until:
            line += f"; may leave recover-wait at {v.recover_wait_until:%H:%M:%S} UTC"
        rep.live.append(line)
    configured_mclt = None
    if cfg.dhcpd_conf:
        try:
            conf = pair.dhcpd_conf()
            peers = conf.failover_peers if conf else {}
            fo = peers.get(cfg.failover_peer) or next(iter(peers.values()), None)
            configured_mclt = fo.int("mclt") if fo else None
        except DhcpdConfError:
            pass  # already a finding
    reported = st.primary.mclt or st.secondary.mclt
    if configured_mclt is not None and reported is not None:
        same = "as configured" if configured_mclt == reported else \
            f"but {configured_mclt} in dhcpd.conf: dhcpd runs an older configuration, restart it"
        rep.live.append(f"mclt {reported} s reported, {same}")
    rep.live.append(f"health: {st.health.level}")

    report: PoolReport | None = None
    if scan and cfg.dhcpd_conf and any(st.peer(r).reachable for r in Role):
        try:
            report = pair.pools()
        except OmapifoError as exc:
            rep.notes.append(f"pool scan failed: {exc}")
    if report:
        for p in report.pools:
            share = p.free + p.backup
            balance = f"free {p.free} / backup {p.backup}"
            if share:
                balance += f" ({100 * p.free // share}% primary's)"
            rep.pools.append(f"{p.name}: {p.total} addresses, {p.active} active, {balance}, "
                             f"runway primary {p.runway.get('primary', '-')}, secondary "
                             f"{p.runway.get('secondary', '-')}")
    rep.next_step = next_step(pair.name, rep, report)
    return rep


def next_step(name: str, rep: DoctorReport, report: PoolReport | None) -> str:
    """The one next step for a report (public: the status page shows it for the poller's
    cached state): the step of the worst thing found, health's notes (rated by
    omapifo._health.assess) first, then the configuration findings, then the pools; among
    equals, the first."""
    st = rep.state
    assert st is not None
    steps: list[tuple[Level, str]] = []
    for note in st.health.notes:
        step = note.reason
        if note.partner_down is not None:
            step += f" To declare it: omapifo partner-down {name} {note.partner_down}"
        steps.append((note.level, step))
    steps += [(f.severity, f"Fix the configuration first: {f}") for f in rep.findings
              if f.severity >= Level.WARNING]
    if report and any(pool.runway and min(pool.runway.values()) == 0 for pool in report.pools):
        steps.append((Level.WARNING, "A pool has no free addresses left on one side: enlarge "
                      "it before it runs out."))
    worst = max((level for level, _ in steps), default=Level.OK)
    if worst is Level.OK:
        return "Nothing to do: both servers are normal and the configuration is consistent."
    return next(step for level, step in steps if level is worst)
