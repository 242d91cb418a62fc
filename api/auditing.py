"""The service's audit trail: the library's sink (the SQLite store), counted in the
metrics, plus the requests to change something that never reached the library.

Every POST to an action (partner-down, shutdown, release) of an authenticated caller
leaves a record: the library records what it is asked to do before anything is sent; a
request turned away before that (403, not confirmed, invalid input, too large) is
recorded here as ``rejected`` with its status, by an after-request hook (the store keeps
a bounded number of those: api/store.py).

A request without a valid token (401) is a stranger's: anyone who reaches the port can
send them in a loop, so they are never stored (each row was an fsynced insert: a loop
filled the state directory, and then every real change was refused with 503). They are
counted (``omapifo_requests_unauthenticated_total``) and logged at a bounded rate: the
first :data:`STRANGER_LOG_BURST` at once, then one line per
:data:`STRANGER_LOG_EVERY` seconds that says how many went unlogged meanwhile.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from datetime import datetime, timezone
from collections.abc import Collection
from typing import Any

from werkzeug.exceptions import HTTPException
from flask import Response, g, has_request_context, request

from omapifo import AuditRecord, Outcome, RateBudget

from . import logs
from .store import Store

log = logging.getLogger("omapifo.api.audit")
STRANGER_LOG_BURST = 5  # lines about requests without a valid token, at once
STRANGER_LOG_EVERY = 10.0  # then one line per this many seconds at most
STRANGER = "(no valid token)"

_ACTION_PATH = re.compile(r"^/api/v1/pairs/(?P<pair>[^/]+)/(?:peers/(?P<peer>[^/]+)/"
                          r"(?P<action>partner-down|shutdown|maintenance)|leases/(?P<ip>[^/]+)/"
                          r"(?P<release>release))/?")


class ServiceAudit:
    """An :class:`omapifo.AuditSink` over the store that also counts outcomes
    (``omapifo_actions_total``) when the metrics can."""

    def __init__(self, store: Store, metrics: Any = None) -> None:
        self.store = store
        self.metrics = metrics
        self._open: dict[str, AuditRecord] = {}  # id -> the attempt, until finished
        self._stranger_lines = RateBudget("log lines about strangers")
        self._unlogged = 0  # strangers' requests not logged since the last line
        self._lock = threading.Lock()
        watch = getattr(metrics, "watch_store", None)
        if watch is not None:
            watch(store)

    def count_stranger(self, kind: str) -> None:
        """One more request without a valid token (``kind``: change or other)."""
        count = getattr(self.metrics, "unauthenticated", None)
        if count is not None:
            count.labels(kind).inc()

    def stranger(self, record: AuditRecord) -> None:
        """A request without a valid token: counted, logged at a bounded rate (module
        docstring), never stored."""
        self.count_stranger("change")
        with self._lock:
            if self._stranger_lines.take(1 / STRANGER_LOG_EVERY, STRANGER_LOG_BURST):
                self._unlogged += 1
                return
            unlogged, self._unlogged = self._unlogged, 0
        detail = record.detail or ""
        if unlogged:
            detail += (f" ({unlogged} more requests without a valid token turned away "
                       "since the last line, not logged)")
        log_action(record, Outcome.REJECTED, detail)

    def begin(self, record: AuditRecord) -> str:
        if has_request_context():
            g.audited = True  # the library has the request now: the hook need not record it
        record_id = self.store.begin(record)
        self._open[record_id] = record
        return record_id

    def finish(self, record_id: str, outcome: Outcome, detail: str) -> None:
        record = self._open.pop(record_id, None)
        pair, action = (record.pair, record.action) if record else ("?", "?")
        count = getattr(self.metrics, "count_action", None)
        if count is not None:
            count(pair, action, str(outcome))
        started = getattr(self.metrics, "start_maintenance", None)
        if started is not None and record is not None and record.action == "maintenance" \
                and outcome is Outcome.DONE:  # omapifo_maintenance_in_progress (issue 22)
            try:
                started(record.pair, record.peer, record.at)
            except Exception:  # noqa: BLE001 - a metric must never cost the audit record
                log.exception("could not mark the maintenance of %s in the metrics", pair)
        try:
            self.store.finish(record_id, outcome, detail)
        finally:  # the journal's copy of the outcome, recorded or not
            log_action(record or AuditRecord(datetime.now(timezone.utc), "?", pair, "?",
                                             action), outcome, detail)


def log_action(record: AuditRecord, outcome: Outcome, detail: str | None) -> None:
    """One line for an admin: who asked what of which peer, and how it ended."""
    level = logging.INFO if outcome in (Outcome.DONE, Outcome.DRY_RUN, Outcome.NO_OP) \
        else logging.WARNING
    logs.event(level, "action", pair=record.pair, peer=record.peer, actor=record.actor,
               action=record.action, force=record.force, outcome=str(outcome),
               reason=record.reason, detail=detail)


def record_rejected(audit: ServiceAudit, response: Response,
                    pairs: Collection[str]) -> Response:
    """After a request: a POST to an action that was turned away before the library saw
    it (not an operator, not confirmed, invalid) is recorded, and counted in
    ``omapifo_actions_total`` under its pair when ``pairs`` has it, else under
    ``(unknown)``: a caller without a token must not be able to add label values. One
    without a valid token is counted and logged at a bounded rate, never stored
    (module docstring)."""
    caller = g.get("caller")
    target = _action_target() if request.method in ("POST", "DELETE") else None
    if target is None:
        if response.status_code == 401 and caller is None:
            audit.count_stranger("other")
        return response
    if response.status_code < 400 or g.get("audited"):
        return response
    actor = caller.name if caller is not None else STRANGER
    detail = f"HTTP {response.status_code}"
    body = response.get_json(silent=True) if response.is_json or \
        response.mimetype == "application/problem+json" else None
    if isinstance(body, dict) and body.get("detail"):
        detail += f": {body['detail']}"
        if body.get("errors"):
            detail += f" {body['errors']}"
    now = datetime.now(timezone.utc)
    pair, peer, action = target
    # the reason the caller gave is kept as sent, even when it is why the request was
    # turned away (a lone surrogate is escaped by the store's clean_text, never dropped)
    try:
        sent = request.get_json(silent=True) if request.is_json else None
    except (HTTPException, RecursionError):  # the 413 or 400 being recorded: a body over
        sent = None                          # MAX_CONTENT_LENGTH, or nested too deep
    given = sent.get("reason") if isinstance(sent, dict) else None
    reason = None if given is None else given if isinstance(given, str) else json.dumps(given)
    record = AuditRecord(now, actor, pair[:200], peer[:64], action, outcome=Outcome.REJECTED,
                         reason=reason[:2000] if reason is not None else None,
                         detail=detail[:2000], finished_at=now)
    count = getattr(audit.metrics, "count_action", None)
    if count is not None:
        count(record.pair if record.pair in pairs else "(unknown)", record.action,
              str(Outcome.REJECTED))
    if caller is None:  # no valid token: a 401, from anyone who reaches the port
        audit.stranger(record)
        return response
    log_action(record, Outcome.REJECTED, record.detail)
    try:
        audit.store.begin(record)
    except Exception:  # noqa: BLE001 - the answer stands; the log says what was lost
        log.exception("could not record a rejected %s %s (%s)", request.method, request.path,
                      detail)
    return response


def _action_target() -> tuple[str, str, str] | None:
    """(pair, peer or host or address, action) of a request to change something."""
    match = _ACTION_PATH.fullmatch(request.path) if request.method == "POST" else None
    if match is not None:
        return (match["pair"], match["peer"] or match["ip"],
                match["action"] or match["release"])
    return _host_action()


_HOST_PATH = re.compile(r"^/api/v1/pairs/(?P<pair>[^/]+)/hosts(?:/(?P<name>[^/]+)"
                        r"(?P<sync>/sync)?)?/?")


def _host_action() -> tuple[str, str, str] | None:
    """(pair, host, action) of a request to change a host reservation, else None."""
    m = _HOST_PATH.fullmatch(request.path)
    if m is None:
        return None
    if request.method == "DELETE" and m["name"] and not m["sync"]:
        return m["pair"], m["name"], "delete host"
    if request.method == "POST" and m["sync"]:
        return m["pair"], m["name"], "sync host"
    if request.method == "POST" and not m["name"]:
        return m["pair"], "?", "add host"
    return None
