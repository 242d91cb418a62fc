"""The service's audit trail: the library's sink (the SQLite store), counted in the
metrics, plus the requests to change something that never reached the library.

Every POST to an action (partner-down, shutdown, release) leaves a record: the library
records what it is asked to do before anything is sent; a request turned away before
that (401, 403, not confirmed, invalid input, too large) is recorded here as
``rejected`` with its status, by an after-request hook.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from collections.abc import Collection
from typing import Any

from flask import Response, g, has_request_context, request

from omapifo.audit import AuditRecord, Outcome

from . import logs
from .store import Store

log = logging.getLogger("omapifo.api.audit")

_ACTION_PATH = re.compile(r"^/api/v1/pairs/(?P<pair>[^/]+)/(?:peers/(?P<peer>[^/]+)/"
                          r"(?P<action>partner-down|shutdown|maintenance)|leases/(?P<ip>[^/]+)/"
                          r"(?P<release>release))/?$")


class ServiceAudit:
    """An :class:`omapifo.audit.AuditSink` over the store that also counts outcomes
    (``omapifo_actions_total``) when the metrics can."""

    def __init__(self, store: Store, metrics: Any = None) -> None:
        self.store = store
        self.metrics = metrics
        self._open: dict[str, AuditRecord] = {}  # id -> the attempt, until finished

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
    it (no valid token, not an operator, not confirmed, invalid) is recorded, and counted
    in ``omapifo_actions_total`` under its pair when ``pairs`` has it, else under
    ``(unknown)``: a caller without a token must not be able to add label values."""
    if request.method not in ("POST", "DELETE") or response.status_code < 400 or \
            g.get("audited"):
        return response
    match = _ACTION_PATH.match(request.path) if request.method == "POST" else None
    host = _host_action()
    if match is None and host is None:
        return response
    caller = g.get("caller")
    actor = caller.name if caller is not None else "(no valid token)"
    detail = f"HTTP {response.status_code}"
    body = response.get_json(silent=True) if response.is_json or \
        response.mimetype == "application/problem+json" else None
    if isinstance(body, dict) and body.get("detail"):
        detail += f": {body['detail']}"
        if body.get("errors"):
            detail += f" {body['errors']}"
    now = datetime.now(timezone.utc)
    pair, peer, action = host if host is not None else (
        match["pair"], match["peer"] or match["ip"], match["action"] or match["release"])
    # the reason the caller gave is kept as sent, even when it is why the request was
    # turned away (a lone surrogate is escaped by the store's clean_text, never dropped)
    sent = request.get_json(silent=True) if request.is_json else None
    given = sent.get("reason") if isinstance(sent, dict) else None
    reason = None if given is None else given if isinstance(given, str) else json.dumps(given)
    record = AuditRecord(now, actor, pair[:200], peer[:64], action, outcome=Outcome.REJECTED,
                         reason=reason[:2000] if reason is not None else None,
                         detail=detail[:2000], finished_at=now)
    log_action(record, Outcome.REJECTED, record.detail)
    count = getattr(audit.metrics, "count_action", None)
    if count is not None:
        count(record.pair if record.pair in pairs else "(unknown)", record.action,
              str(Outcome.REJECTED))
    try:
        audit.store.begin(record)
    except Exception:  # noqa: BLE001 - the answer stands; the log says what was lost
        log.exception("could not record a rejected %s %s (%s)", request.method, request.path,
                      detail)
    return response


_HOST_PATH = re.compile(r"^/api/v1/pairs/(?P<pair>[^/]+)/hosts(?:/(?P<name>[^/]+)"
                        r"(?P<sync>/sync)?)?/?$")


def _host_action() -> tuple[str, str, str] | None:
    """(pair, host, action) of a request to change a host reservation, else None."""
    m = _HOST_PATH.match(request.path)
    if m is None:
        return None
    if request.method == "DELETE" and m["name"] and not m["sync"]:
        return m["pair"], m["name"], "delete host"
    if request.method == "POST" and m["sync"]:
        return m["pair"], m["name"], "sync host"
    if request.method == "POST" and not m["name"]:
        return m["pair"], "?", "add host"
    return None
