"""Releasing a lease: its binding state set to released on the peer that serves it.

The body of :meth:`FailoverPair.release <omapifo.FailoverPair.release>`, inside
its attempt. Measured on the lab: an update of the lease's state to released on the server
that holds it logs "lease X state changed from active to released"; the partner
acknowledges, and the address goes to ``backup`` on both within a second.
"""
from __future__ import annotations

import time

from . import _guards as guards
from ._attempt import Attempt
from ._errors import ConvergenceError, ReleaseRefused
from ._leases import LeaseState, LeaseView
from ._lookups import lease_view
from ._omapi import lease_state_update
from ._pairaccess import PairAccess
from ._states import Role


def wait_not_active(pair: PairAccess, ip: str, wait: float) -> LeaseView:
    """Both peers' view of ``ip`` once neither reports it active; ConvergenceError after
    ``wait`` seconds (each round reads both peers afresh)."""
    deadline = time.monotonic() + wait
    after = lease_view(pair, ip)
    while any(lease and lease.state is LeaseState.ACTIVE
              for lease in (after.primary, after.secondary)):
        if time.monotonic() > deadline:
            raise ConvergenceError(f"after {wait:g} s the peers say: {_states(after)}",
                                   operation="release")
        time.sleep(0.1)
        after = lease_view(pair, ip)
    return after


def _states(view: LeaseView) -> str:
    return (f"primary {view.primary and view.primary.state}, secondary "
            f"{view.secondary and view.secondary.state}")


def release(pair: PairAccess, att: Attempt, addr: str, *, wait: float,
            dry_run: bool) -> LeaseView:
    """Release the active lease of ``addr`` when the guard allows it; see FailoverPair."""
    before = lease_view(pair, addr)
    if before.state is not LeaseState.ACTIVE:
        raise att.refuse(f"{before.ip} is {before.state}, not active: nothing to "
                         "release", ReleaseRefused)
    serving = before.serving or next(r for r in Role if (le := before.peer(r))
                                     and le.state is LeaseState.ACTIVE)
    decision = guards.release(serving, before.evidence, before.errors,
                              split_brain=pair.state().split_brain)
    if not decision.proceed:
        raise att.refuse(decision.why, ReleaseRefused)
    if dry_run:
        att.dry_run(f"would release {addr} on the {serving}")
        return before
    att.send(serving, lease_state_update(addr, LeaseState.RELEASED))
    try:
        after = wait_not_active(pair, addr, wait)
    except ConvergenceError as exc:
        att.done(f"released {addr} on the {serving}; {exc.message}")
        raise
    att.done(f"released {addr} on the {serving}; now {_states(after)}")
    return after
