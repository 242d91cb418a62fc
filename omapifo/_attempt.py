"""One audited change of a pair: the only way anything is sent to dhcpd.

    with open_attempt(pair, sink, "partner-down", "secondary", actor="alice", ...) as att:
        if already_so:
            att.no_op(why); return ...            # nothing sent
        if not safe:
            raise att.refuse(why, PartnerDownRefused)
        if dry_run:
            att.dry_run(message); return ...
        att.send(Role.SECONDARY, local_state_update(...))
        ...read back...
        att.done(message)                         # or: raise att.unsettled(message)

The attempt is recorded in the audit sink before the body runs (no sink, or one that
cannot write: AuditUnavailable, nothing sent), and the pair's lock is held while it runs
(one change of a pair at a time on this host). Sending goes through :meth:`Attempt.send`,
:meth:`~Attempt.create` and :meth:`~Attempt.remove` alone, so the fault points
(:mod:`omapifo._faults`) and the mark that something was sent are in one place. Every
path completes the record once: a body that raises leaves it refused (a guard's refusal),
failed (nothing reached dhcpd) or unknown (something may have).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import _faults as faults, _pairlock as pairlock
from ._audit import AuditRecord, AuditSink, Outcome, clean_text
from ._errors import (NOT_TAKEN, AuditUnavailable, ConvergenceError, NotFound,
                     OperationRefused, PeerError)
from ._omapi import Lookup, Update
from ._pairaccess import PairAccess
from ._states import Role

log = logging.getLogger("omapifo.actions")


class Attempt:
    """One audited attempt: its record, whether anything was sent, how it ended."""

    def __init__(self, pair: PairAccess, sink: AuditSink, record_id: str, action: str,
                 peer: str) -> None:
        self.pair, self.sink, self.id, self.action, self.peer = pair, sink, record_id, action, peer
        self.sent = False
        self.outcome: Outcome | None = None

    # -- how it ended ---------------------------------------------------------------------

    def close(self, outcome: Outcome, detail: str) -> None:
        """Complete the record (once; later calls are ignored). The change (if any) is
        already made, so a sink that fails now is logged, not raised: the record then
        stays "unknown", which is the truth."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        try:
            self.sink.finish(self.id, outcome, detail)
        except Exception:  # noqa: BLE001 - any sink failure; the action's result stands
            log.exception("could not record the outcome (%s) of %s of %s; the audit record "
                          "%s stays 'unknown'", outcome, self.action, self.peer, self.id)

    def no_op(self, why: str) -> None:
        """Already so: nothing sent."""
        self.close(Outcome.NO_OP, why)

    def dry_run(self, message: str) -> None:
        """Every check passed; nothing sent, as asked."""
        self.close(Outcome.DRY_RUN, message)

    def done(self, message: str) -> None:
        self.close(Outcome.DONE, message)

    def unknown(self, message: str) -> None:
        """Sent, and whether dhcpd took it (all of it) cannot be told."""
        self.close(Outcome.UNKNOWN, message)

    def refuse(self, why: str, cls: type[OperationRefused] = OperationRefused
               ) -> OperationRefused:
        """Record a refusal; the error to raise (nothing was sent)."""
        self.close(Outcome.REFUSED, why)
        return cls(why, peer=self.peer, operation=self.action)

    def unsettled(self, message: str, *, detail: str | None = None,
                  peer: str | None = None) -> ConvergenceError:
        """Record that what was sent does not read back (unknown); the error to raise."""
        self.unknown(detail or message)
        return ConvergenceError(message, peer=peer, operation=self.action)

    def fail(self, exc: BaseException, detail: str) -> None:
        """Complete the record after ``exc``: failed when nothing reached dhcpd (nothing
        sent yet, or dhcpd said no / no connection was made: errors.NOT_TAKEN), else
        unknown (it may have happened)."""
        taken = self.sent and not isinstance(exc, NOT_TAKEN)
        self.close(Outcome.UNKNOWN if taken else Outcome.FAILED, detail)

    # -- sending ----------------------------------------------------------------------------

    @contextmanager
    def _sending(self, role: Role, what: str,
                 took: Callable[[], bool] | None) -> Iterator[None]:
        """Around one message to ``role``: the fault points, the mark that something was
        sent, and an answer lost on the way settled by ``took()`` (read back: True, it
        happened). An error dhcpd answered (NOT_TAKEN) is raised as it is."""
        faults.point("before-send")
        self.sent = True
        try:
            yield
        except NOT_TAKEN:
            raise
        except PeerError as exc:
            if took is None or not took():
                raise
            log.warning("no answer to %s on the %s of %s (%s), but it reads back as done",
                        what, role, self.pair.name, exc)
        faults.point("after-send")

    def send(self, role: Role, update: Update, *, took: Callable[[], bool] | None = None
             ) -> None:
        """Send ``update`` to ``role``. A failure is raised; left unhandled, the attempt
        records it (failed when dhcpd did not take it, else unknown: :meth:`fail`)."""
        with self._sending(role, self.action, took):
            self.pair.peer(role).update(update.lookup.type, update.lookup.attrs,
                                        update.changes, operation=self.action,
                                        expect_answer=update.expect_answer)

    def create(self, role: Role, obj: Lookup, *, took: Callable[[], bool]) -> None:
        """Create ``obj`` on ``role``. A create is never repeated (OmapiPeer.create), so a
        lost answer is settled by ``took()``: only an object that is not there counts as
        not created."""
        with self._sending(role, f"create {obj.type}", took):
            self.pair.peer(role).create(obj.type, obj.attrs,
                                        operation=f"create {obj.type} on {role}")

    def remove(self, role: Role, obj: Lookup) -> None:
        """Delete the object ``obj`` finds on ``role``. "Not found" counts as done: a delete
        whose answer was lost is sent again on a new connection (OmapiPeer.delete), and
        then finds nothing; the read-back that follows every change tells what is there."""
        with self._sending(role, f"delete {obj.type}", None):
            try:
                self.pair.peer(role).delete(obj.type, obj.attrs,
                                            operation=f"delete {obj.type} on {role}")
            except NotFound:
                pass


@contextmanager
def open_attempt(pair: PairAccess, sink: AuditSink | None, action: str, peer: str, *,
                 actor: str, lock_path: Path, lock_wait: float, force: bool = False,
                 reason: str | None = None) -> Iterator[Attempt]:
    """Record the attempt, then hold the pair's lock while the body decides and acts.

    Raises AuditUnavailable (nothing sent) when the attempt cannot be recorded. A body
    that leaves without closing the attempt completes it here: refused for a guard's
    refusal, failed when nothing was sent, unknown when something was.
    """
    if sink is None:
        raise AuditUnavailable(f"{action} needs an audit sink: FailoverPair(config, "
                               "audit=JsonLinesAudit(path)) or the service's store; "
                               "nothing was sent", peer=peer, operation=action)
    record = AuditRecord(datetime.now(timezone.utc), clean_text(actor) or "?", pair.name,
                         peer, action, force, clean_text(reason))
    att = Attempt(pair, sink, sink.begin(record), action, peer)
    try:
        with pairlock.hold(lock_path, pair=pair.name, operation=action, wait=lock_wait):
            yield att
    except OperationRefused as exc:
        att.close(Outcome.REFUSED, exc.message)
        raise
    except BaseException as exc:
        att.fail(exc, f"{type(exc).__name__}: {exc}")
        raise
    if att.outcome is None:  # a body that returned without saying: a bug, not a fact
        att.unknown("the action ended without recording its outcome")
