"""Shutdown: one server's dhcpd stopped cleanly over OMAPI (the control object).

The body of :meth:`FailoverPair.shutdown <omapifo.FailoverPair.shutdown>`, inside
its attempt. dhcpd(8), THE CONTROL OBJECT, says dhcpd then moves to shutdown and tells its
partner. Measured with 4.4.3 in the lab: the server logs "I move from normal to
shutdown", times out waiting for its partner and exits; the partner only sees the
connection drop (communications-interrupted, partner still "normal"), so a partner-down
is still needed for it to serve every address.
"""
from __future__ import annotations

import time

from . import _guards as guards
from ._attempt import Attempt
from ._omapi import shutdown_update
from ._pairaccess import PairAccess
from ._pairstate import ActionResult, PairState
from ._states import FailoverState, Role

ACTION = "shutdown"
_NOTICED = (FailoverState.PARTNER_DOWN, FailoverState.COMMUNICATIONS_INTERRUPTED)


def _noticed(after: PairState, role: Role) -> bool:
    """The partner reports the shutdown, or has lost the connection to it."""
    other = after.peer(role.other)
    return other.partner_state is FailoverState.SHUTDOWN or other.local_state in _NOTICED


def shutdown(pair: PairAccess, att: Attempt, role: Role, *, force: bool, reason: str | None,
             dry_run: bool, wait: float) -> ActionResult:
    """Shut ``role`` down when the guard allows it, then wait up to ``wait`` seconds for
    its partner to notice; see FailoverPair.shutdown."""
    why = guards.needs_reason(force, reason)
    if why:
        raise att.refuse(why)
    before = pair.state()
    decision = guards.shutdown(role, before, force=force)
    if not decision.proceed:
        raise att.refuse(decision.why)
    if dry_run:
        message = f"would shut down the {role}'s dhcpd ({decision.why})"
        att.dry_run(message)
        return ActionResult(pair.name, role, ACTION, False, True, message, before, None,
                            force, reason, evidence=decision.partner)
    att.send(role, shutdown_update())
    deadline = time.monotonic() + wait
    after = pair.state()
    while time.monotonic() < deadline and not _noticed(after, role):
        time.sleep(0.2)
        after = pair.state()
    survivor = after.peer(role.other)
    message = (f"the {role} was told to shut down; the {role.other} is "
               f"{survivor.local_state} and sees its partner as {survivor.partner_state}")
    att.done(message)
    return ActionResult(pair.name, role, ACTION, True, False, message, before, after,
                        force, reason, evidence=decision.partner)
