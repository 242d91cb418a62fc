"""The decisions behind every state change: evidence in, proceed or refuse out.

Pure functions of a :class:`~omapifo.PairState` read immediately before the
change, so they are tested without a network and the actions in
:mod:`omapifo._failover` hold no rule of their own. docs/runbook.md ("Evidence") has the
same table for people.

dhcpd applies any ``local-state`` written over OMAPI with no check of its own, and
dhcpd(8), THE FAILOVER-STATE OBJECT, warns that partner-down while the partner is
alive but unreachable makes address conflicts likely: these guards are the only ones.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ._dhcpdconf import DhcpdConf
from ._errors import AuthenticationFailed, NotFound
from ._evidence import Evidence
from ._hosts import Host
from ._pairstate import PairState, PeerView
from ._probe import ProbeResult
from ._states import FailoverState as S
from ._states import Role

RUNBOOK_SPLIT_BRAIN = "docs/runbook.md, \"Split brain\""


@dataclass(frozen=True)
class Decision:
    """What a guard decided: ``proceed`` (send the change), or not and why."""

    proceed: bool
    why: str
    partner: Evidence
    no_op: bool = False  # nothing to do: the peer is already where it was asked to go


def _refuse(why: str, partner: Evidence) -> Decision:
    return Decision(False, why, partner)


def _forced_or_refused(force: bool, partner: Evidence, forced: str, refused: str) -> Decision:
    """Evidence that cannot rule out a live partner: only ``force`` (with its reason)
    proceeds, and the record says it was forced."""
    return Decision(True, forced, partner) if force else _refuse(refused, partner)


def _fix_for(view: PeerView) -> str:
    """What to fix when a peer answers but cannot be read (its dhcpd is running)."""
    kind = view.error_class
    if kind is not None and issubclass(kind, AuthenticationFailed):
        return "check that omapifo's key (name, secret, algorithm) matches its dhcpd.conf"
    if kind is not None and issubclass(kind, NotFound):
        return "check the failover peer name in omapifo's configuration against its dhcpd.conf"
    return "check that the configured address and port are its dhcpd's omapi-port"


def needs_reason(force: bool, reason: str | None) -> str | None:
    """Why a forced action is refused before anything is read: force needs a reason."""
    if force and not (reason and reason.strip()):
        return ("force needs a reason (what you checked, what happened to the partner), "
                "for the audit trail")
    return None


def partner_down(role: Role, st: PairState, *, force: bool,
                 probe: ProbeResult | None = None) -> Decision:
    """May ``role`` be moved into partner-down, given both peers as read just now?

    Proceeds when the peer reads communications-interrupted, neither peer is in
    partner-down, and its partner's host refused the connection with a TCP reset (up,
    dhcpd not running). A partner that cannot be reached at all (no route, timeout) looks
    exactly like a partition, and one whose connection a filter rejected (an ICMP error)
    may be running behind that filter: both need ``force`` (with a reason). A partner that
    answers but cannot be read (key, peer name, protocol) is running: refused even with
    force.

    ``probe`` is a DHCP probe of the partner made just now (omapifo._probe), when the
    pair has a probe address. A partner that answered it is serving clients: refused even
    with force, whatever OMAPI showed. One that did not answer decides nothing (a filter
    on port 67 and a dead dhcpd look alike), but the decision says so.
    """
    if probe is not None and probe.role is not role.other:
        raise ValueError(f"the probe for partner-down of the {role} must be of the "
                         f"{role.other}, not the {probe.role}")
    decision = _partner_down(role, st, force=force, probe=probe)
    if probe is not None and not probe.answered and not decision.no_op:
        decision = replace(decision, why=f"{decision.why}; {probe.describe()}")
    return decision


def _partner_down(role: Role, st: PairState, *, force: bool,
                  probe: ProbeResult | None) -> Decision:
    target, other = st.peer(role), st.peer(role.other)
    evidence = other.evidence
    if not target.reachable:
        return _refuse(f"the {role} does not answer over OMAPI ({target.error}), so its state "
                       "cannot be changed", evidence)
    if target.local_state is S.PARTNER_DOWN:
        if st.split_brain:  # refused, not "nothing to do": the pair is in danger
            return _refuse(f"the {role} is already in partner-down, and so is the "
                           f"{role.other}: SPLIT BRAIN, both hand out every address; stop "
                           f"one dhcpd now ({RUNBOOK_SPLIT_BRAIN})", evidence)
        return Decision(False, f"the {role} is already in partner-down; nothing to do",
                        evidence, no_op=True)
    if target.local_state is not S.COMMUNICATIONS_INTERRUPTED:
        return _refuse(f"the {role} is {target.local_state}, not communications-interrupted: "
                       "it can still talk to its partner, or is busy with another transition",
                       evidence)
    if other.local_state is S.PARTNER_DOWN or target.partner_state is S.PARTNER_DOWN:
        return _refuse(f"the {role.other} is itself in partner-down: both in partner-down is a "
                       "split brain (both hand out every address); force does not override this",
                       evidence)
    if probe is not None and probe.answered:
        omapi = (f"reads {other.local_state}" if other.reachable
                 else f"cannot be read ({evidence}: {other.error})")
        return _refuse(f"{probe.describe()}: it is serving clients, so partner-down of the "
                       f"{role} would make both hand out the same addresses. Force does not "
                       f"override this (over OMAPI the {role.other} {omapi}); repair the "
                       "failover link between the two, or stop that dhcpd first", evidence)
    if evidence is Evidence.ANSWERS_BADLY:
        return _refuse(f"the {role.other} answers but cannot be read ({other.error}): its dhcpd "
                       "is running, so partner-down would make two servers hand out the same "
                       f"addresses. Force does not override this; {_fix_for(other)}, then "
                       "read the pair again", evidence)
    if evidence is Evidence.DHCPD_STOPPED:
        return Decision(True, f"the {role.other}'s host refused the connection: the host is up "
                        "and its dhcpd is not running", evidence)
    if evidence is Evidence.FILTERED:
        return _forced_or_refused(
            force, evidence, f"forced: the {role.other} is behind a filter ({other.error})",
            f"the {role.other} cannot be read: {other.error}. A rejecting firewall "
            "is not a stopped dhcpd: it may be alive and serving clients, and "
            "partner-down would make both hand out the same addresses. Check on "
            f"the {role.other}'s host first (is dhcpd running? its firewall rules, "
            "e.g. `nft list ruleset`), or let OMAPI from here through. If you know "
            "it cannot serve clients, force it with a reason (--force --reason "
            'TEXT, or {"force": true, "reason": "..."})')
    if evidence is Evidence.SILENT:
        return _forced_or_refused(
            force, evidence, f"forced: the {role.other} cannot be reached ({other.error})",
            f"the {role.other} cannot be reached from here ({other.error}): a dead "
            "server and a cut link look the same from one place. Check first: its "
            "console or power (is the machine up?), and the failover link between "
            "the two (can they reach each other?). If you know it cannot serve "
            "clients, force it with a reason (--force --reason TEXT, or "
            '{"force": true, "reason": "..."})')
    # READABLE: it answers over OMAPI, so its dhcpd is alive and only cut off from `role`
    return _forced_or_refused(
        force, evidence, f"forced: the {role.other} answers over OMAPI "
        f"({other.local_state}) but is cut off from the {role}",
        f"the {role.other} still answers over OMAPI from here ({other.local_state}): "
        f"it is alive, only cut off from the {role}. Partner-down now makes address "
        "conflicts likely; repair the failover link instead, or force it with a "
        "reason if you know it cannot serve clients")


def shutdown(role: Role, st: PairState, *, force: bool) -> Decision:
    """May ``role``'s dhcpd be shut down (OMAPI control object)?

    The danger here is nobody serving, not duplicates: proceeds when the partner reads
    normal; any other evidence of the partner (not normal, stopped, silent, answering
    badly) needs ``force`` with a reason.
    """
    target, other = st.peer(role), st.peer(role.other)
    evidence = other.evidence
    if not target.reachable:
        return _refuse(f"the {role} does not answer over OMAPI ({target.error})", evidence)
    if evidence is Evidence.READABLE and other.local_state is S.NORMAL:
        return Decision(True, f"the {role.other} is normal and takes over", evidence)
    if evidence is Evidence.READABLE:
        seen = f"is {other.local_state}, not normal"
    elif evidence is Evidence.DHCPD_STOPPED:
        seen = "is not running (its host refused the connection)"
    elif evidence is Evidence.SILENT:
        seen = f"cannot be reached ({other.error})"
    elif evidence is Evidence.FILTERED:
        seen = f"is behind a filter ({other.error})"
    else:
        seen = f"answers but cannot be read ({other.error}); {_fix_for(other)}"
    if force:
        return Decision(True, f"forced: its partner, the {role.other}, {seen}", evidence)
    return _refuse(f"its partner, the {role.other}, {seen}: nobody might be left to serve "
                   "clients; force it with a reason if that is what you want", evidence)


def release(serving: Role, evidence: dict[Role, Evidence],
            errors: dict[Role, str], *, split_brain: bool = False) -> Decision:
    """May a lease be released on the ``serving`` peer?

    A release only changes the serving peer's record, and dhcpd keeps a released lease
    until its partner acknowledges (so a partition cannot hand it out twice). But a peer
    that answers and cannot be read is misconfigured: its view of the lease is unknown,
    so nothing is changed until that is fixed. In a ``split_brain`` (both peers in
    partner-down) neither waits for the other any more: refused until one is stopped.
    """
    if split_brain:
        return _refuse("both peers are in partner-down (SPLIT BRAIN): each hands out "
                       "addresses without the other, so a release on one is not seen by "
                       f"the other; stop one dhcpd first ({RUNBOOK_SPLIT_BRAIN})",
                       evidence.get(serving.other, Evidence.READABLE))
    for role, seen in evidence.items():
        if seen is Evidence.ANSWERS_BADLY:
            return _refuse(f"the {role} answers but cannot be read ({errors.get(role)}): fix "
                           "that first, so both peers' view of the lease is known", seen)
    return Decision(True, f"the {serving} holds the lease",
                    evidence.get(serving.other, Evidence.READABLE))


# -- host reservations -------------------------------------------------------------------


def _host_place(host: Host, conf: DhcpdConf | None) -> str | None:
    """Why ``host``'s address cannot be reserved, by dhcpd.conf, or None.

    An address inside a failover pool belongs to the pool's split between the peers
    (dhcpd.conf(5), "THE FAILOVER PEER STATEMENT"): a reservation there is handed out
    dynamically by one peer as well. An address outside every subnet is never offered.
    """
    if conf is None:
        return ("the pair has no dhcpd_conf in omapifo's configuration, so the address "
                "cannot be checked against the pools and subnets")
    ip = host.ip
    if ip is None:
        return "a reservation needs an address"
    for pool in conf.pools:
        for r in pool.ranges:
            if ip in r:
                return (f"{ip} is inside the dynamic range {r.first}-{r.last} ({r.loc}): "
                        "the failover peers hand those addresses out themselves; reserve an "
                        "address of the subnet outside its pools")
    for r in (r for sub in conf.subnets for r in sub.ranges):
        if ip in r:
            return f"{ip} is inside the dynamic range {r.first}-{r.last} ({r.loc})"
    if not any(ip in sub.network for sub in conf.subnets):
        return (f"{ip} is outside every subnet of {conf.path}: dhcpd would never offer it")
    for h in conf.hosts:
        if str(ip) in h.fixed_addresses and h.name != host.name:
            return f"{ip} is already host {h.name}'s fixed-address in dhcpd.conf ({h.loc})"
        if host.mac and h.hardware == host.mac and h.name != host.name:
            return f"MAC {host.mac} is already host {h.name}'s in dhcpd.conf ({h.loc})"
    return None


def _host_clash(host: Host, role: Role, seen: list[Host]) -> str | None:
    """Why ``host`` clashes with what ``role`` holds (``seen``), or None."""
    for other in seen:
        if other.name == host.name:
            if other != host:
                return (f"the {role} already has a host named {host.name} with other "
                        f"values ({other}); delete it first or choose another name")
            continue
        for what, mine, theirs in (("address", host.ip, other.ip), ("MAC", host.mac, other.mac),
                                   ("client id", host.client_id, other.client_id)):
            if mine is not None and mine == theirs:
                return f"{what} {mine} is already reserved on the {role} as {other}"
    return None


def _no_files(host: Host) -> str:
    return (f"omapifo cannot tell whether {host.ip} is reserved already: OMAPI finds no "
            "host by its address (dhcpd 4.4.3 looks up the lease of that address), and dhcpd "
            "keeps the hosts made over OMAPI in its dhcpd.leases. Give both peers' "
            "dhcpd.leases: dhcpd_leases and secondary_dhcpd_leases in the pair's "
            "configuration, or --leases-dir / --files on the command line")


def host_add(host: Host, conf: DhcpdConf | None, seen: dict[Role, list[Host]],
             errors: dict[Role, str], *, files_read: bool) -> Decision:
    """May ``host`` be created on both peers?

    ``seen``: what each peer holds under this name, MAC or client id (over OMAPI) and
    the hosts of its dhcpd.leases; ``errors``: the peers that could not be read;
    ``files_read``: both dhcpd.leases were read. Both peers must answer (a reservation
    made on one only makes them answer the client differently); the address must be in a
    subnet and outside every dynamic range; no other host may hold its address, MAC or
    client id, which only both dhcpd.leases can tell for the address (dhcpd itself
    accepts a second host with the same fixed-address, measured): without them, refused.
    """
    if errors:
        role, err = next(iter(errors.items()))
        return _refuse(f"the {role} cannot be read ({err}): a reservation is made on both "
                       "peers or not at all", Evidence.READABLE)
    why = _host_place(host, conf) or (None if files_read else _no_files(host))
    if why:
        return _refuse(why, Evidence.READABLE)
    for role in Role:
        why = _host_clash(host, role, seen.get(role, []))
        if why:
            return _refuse(why, Evidence.READABLE)
    held = [role for role in Role if host in seen.get(role, [])]
    if len(held) == 2:
        return Decision(False, f"{host} is already on both peers; nothing to do",
                        Evidence.READABLE, no_op=True)
    if held:
        return _refuse(f"{host} is already on the {held[0]} but not on the {held[0].other}: "
                       f"repair it with `omapifo host sync` (FailoverPair.sync_host)",
                       Evidence.READABLE)
    return Decision(True, f"{host.ip} is outside the dynamic ranges and reserved nowhere",
                    Evidence.READABLE)


def host_delete(names: list[str], conf: DhcpdConf | None) -> Decision:
    """May the hosts ``names`` (as the peers found them) be deleted over OMAPI? Not one
    declared in dhcpd.conf: OMAPI finds those by name too, and a delete would write
    ``host NAME { deleted; }`` to dhcpd.leases, so the reservation the file declares
    would be gone until someone notices (dhcpd.conf is where it is changed)."""
    for h in conf.hosts if conf is not None else []:
        if h.name in names:
            return _refuse(f"host {h.name} is declared in dhcpd.conf ({h.loc}): change it "
                           "there; omapifo deletes only the reservations made over OMAPI",
                           Evidence.READABLE)
    return Decision(True, "made over OMAPI (not in dhcpd.conf)", Evidence.READABLE)


def host_sync(host: Host, source: Role, conf: DhcpdConf | None, seen: dict[Role, list[Host]],
              errors: dict[Role, str], *, files_read: bool) -> Decision:
    """May ``host``, held by ``source`` only, be created on the other peer? The same
    rules as :func:`host_add` for the peer that lacks it."""
    target = source.other
    if errors:
        role, err = next(iter(errors.items()))
        return _refuse(f"the {role} cannot be read ({err}): fix that first",
                       Evidence.READABLE)
    why = (_host_place(host, conf) or (None if files_read else _no_files(host))
           or _host_clash(host, target, seen.get(target, [])))
    if why:
        return _refuse(why, Evidence.READABLE)
    if host in seen.get(target, []):
        return Decision(False, f"{host} is already on both peers; nothing to do",
                        Evidence.READABLE, no_op=True)
    return Decision(True, f"the {source} has {host} and the {target} does not",
                    Evidence.READABLE)


# -- planned maintenance (omapifo._maintenance runs the steps) ------------------------------


def maintenance_start(role: Role, st: PairState) -> Decision:
    """May planned maintenance of ``role`` begin (shut it down, then partner-down of its
    partner)? Only from a healthy pair: both peers read ``normal`` and each sees the other
    as ``normal``. Anything else is an incident, not a plan: use the single actions (and
    their force) there. No force: the steps after the shutdown decide on evidence only."""
    target, other = st.peer(role), st.peer(role.other)
    evidence = other.evidence
    for view in (target, other):
        if not view.reachable:
            return _refuse(f"the {view.role} cannot be read ({view.error}): planned maintenance "
                           "starts only from two normal servers", evidence)
        if view.local_state is not S.NORMAL or view.partner_state is not S.NORMAL:
            return _refuse(f"the {view.role} is {view.local_state} and sees its partner as "
                           f"{view.partner_state}: planned maintenance starts only when both "
                           "are normal", evidence)
    return Decision(True, f"both peers are normal; the {role.other} takes over", evidence)


def peer_stopped(role: Role, st: PairState) -> Decision:
    """After a control-object shutdown of ``role``: has it stopped, as far as omapifo can
    tell? Its host refuses the OMAPI connection (dhcpd closes its listeners first, measured
    at once) and its partner has noticed (communications-interrupted, measured 8-12 s
    later in the lab, when the stopping dhcpd gives up waiting for its partner). ``proceed``
    means the wait is over; otherwise ``why`` says what is still missing."""
    target, other = st.peer(role), st.peer(role.other)
    evidence = target.evidence
    if evidence is not Evidence.DHCPD_STOPPED:
        seen = (f"still answers ({target.local_state})" if target.reachable
                else f"does not refuse the connection ({evidence}: {target.error})")
        return _refuse(f"the {role} {seen}", evidence)
    if other.local_state is not S.COMMUNICATIONS_INTERRUPTED:
        state = f"{other.local_state}" if other.reachable else f"unreadable ({other.error})"
        return _refuse(f"the {role.other} is {state}, not communications-interrupted", evidence)
    return Decision(True, f"the {role}'s host refuses the connection and the {role.other} is "
                    "communications-interrupted", evidence)
