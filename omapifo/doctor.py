"""``doctor``: configuration findings plus the live pair, ending with one next step.

OMAPI's ``skew`` is never filled in by dhcpd 4.4.3, so nothing here presents it as a
clock measurement; dhcpd refuses a failover connection when the clocks differ by more
than 60 s, which the report mentions when the peers cannot connect.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .confcheck import Finding, check_pair
from .dhcpdconf import DhcpdConfError
from .errors import OmapifoError
from .failover import FailoverPair
from .health import format_duration
from .pairstate import PairState
from .pools import PoolReport
from .severity import Level
from .states import FailoverState as S
from .states import Role


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
    rep.next_step = _next_step(pair.name, rep, report)
    return rep


def _next_step(name: str, rep: DoctorReport, report: PoolReport | None) -> str:
    st = rep.state
    assert st is not None
    errors = [f for f in rep.findings if f.severity is Level.CRITICAL]
    p, s = st.primary, st.secondary
    for me, other in ((p, s), (s, p)):
        if not other.reachable and me.local_state is S.COMMUNICATIONS_INTERRUPTED:
            return (f"The {other.role} does not answer and the {me.role} is in "
                    f"communications-interrupted. If the {other.role} is really down (not only "
                    f"cut off), run: omapifo partner-down {name} {me.role}")
        if not other.reachable and me.local_state is S.PARTNER_DOWN:
            return (f"The {me.role} serves alone (partner-down). Repair and start the "
                    f"{other.role}; it resynchronises through recover.")
    if not p.reachable and not s.reachable:
        return "Neither server answers OMAPI: check that dhcpd runs and the OMAPI key."
    for v in (p, s):
        if v.local_state is S.RECOVER_WAIT and v.recover_wait_until:
            return (f"Wait: the {v.role} leaves recover-wait at "
                    f"{v.recover_wait_until:%H:%M:%S} UTC.")
        if v.local_state is S.COMMUNICATIONS_INTERRUPTED:
            return (f"Both answer OMAPI but the {v.role} cannot reach its partner: repair the "
                    "failover link (ports, routing; dhcpd also refuses peers whose clocks "
                    "differ by more than 60 s). Do not declare partner-down.")
    if errors:
        return f"Fix the configuration error first: {errors[0]}"
    if not st.health.ok:
        return st.health.reasons[0]
    if report and any(pool.runway and min(pool.runway.values()) == 0 for pool in report.pools):
        return "A pool has no free addresses left on one side: enlarge it before it runs out."
    return "Nothing to do: both servers are normal and the configuration is consistent."
