"""Partner-down: one server told to serve every address while its partner is down.

The body of :meth:`FailoverPair.partner_down <omapifo.FailoverPair.partner_down>`,
inside its attempt: both peers are read, :func:`omapifo._guards.partner_down` decides, the
failover-state object's ``local-state`` is set to partner-down, and both peers are read
again. dhcpd(8), THE FAILOVER-STATE OBJECT, warns that doing this while the partner is
alive but unreachable makes address conflicts likely: hence the guard.
"""
from __future__ import annotations

import logging

from . import _guards as guards
from ._attempt import Attempt
from ._errors import PartnerDownRefused
from ._omapi import local_state_update
from ._pairaccess import PairAccess
from ._pairstate import ActionResult, PairState
from ._probe import probe_partner
from ._states import FailoverState, Role

log = logging.getLogger("omapifo.actions")
ACTION = "partner-down"


def partner_down(pair: PairAccess, att: Attempt, role: Role, *, force: bool,
                 reason: str | None, dry_run: bool) -> ActionResult:
    """Move ``role`` to partner-down when the guard allows it; see FailoverPair."""
    why = guards.needs_reason(force, reason)
    if why:
        raise att.refuse(why, PartnerDownRefused)
    before = pair.state()
    probe = probe_partner(pair, role, before)
    decision = guards.partner_down(role, before, force=force, probe=probe)

    def result(done: bool, message: str, after: PairState | None) -> ActionResult:
        return ActionResult(pair.name, role, ACTION, done, dry_run, message, before, after,
                            force, reason, evidence=decision.partner,
                            split_brain=bool(after and after.split_brain))
    if decision.no_op:
        att.no_op(decision.why)
        return result(False, decision.why, before)
    if not decision.proceed:
        raise att.refuse(decision.why, PartnerDownRefused)
    if dry_run:
        message = f"would move the {role} from communications-interrupted to " \
                  f"partner-down ({decision.why})"
        att.dry_run(message)
        return result(False, message, None)
    read_back: list[PairState] = []

    def took() -> bool:  # no answer: did it happen?
        read_back.append(pair.state())
        return read_back[-1].peer(role).local_state is FailoverState.PARTNER_DOWN
    att.send(role, local_state_update(pair.config.failover_peer, FailoverState.PARTNER_DOWN),
             took=took)
    after = read_back[-1] if read_back else pair.state()
    now = after.peer(role).local_state
    if now is not FailoverState.PARTNER_DOWN:
        raise att.unsettled(f"partner-down was sent but the {role} reads back {now}",
                            detail=f"sent and acknowledged, but the {role} reads back {now}",
                            peer=str(role))
    message = f"the {role} is now in partner-down ({decision.why})"
    if after.split_brain:
        message = (f"SPLIT BRAIN: the {role} is now in partner-down, and the "
                   f"{role.other} is in partner-down too: both hand out every address. "
                   f"Stop one dhcpd now ({guards.RUNBOOK_SPLIT_BRAIN})")
        log.error("%s: %s", pair.name, message)
    att.done(message)
    return result(True, message, after)
