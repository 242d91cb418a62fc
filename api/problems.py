"""Every error as ``application/problem+json`` (RFC 9457), never a stack trace.

omapifo's errors map to statuses here, in one place: the views just let them raise.
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Response
from werkzeug.exceptions import HTTPException

import omapifo
from omapifo import (AuditUnavailable, AuthenticationFailed, ConfigError, ConvergenceError,
                     NotFound, OmapifoError, OperationRefused, PeerError, PeerTimeout,
                     PeerUnreachable, ProbeError, Refused, UnknownPair)

from .flights import Busy

log = logging.getLogger("omapifo.api")

# (status, short title) per omapifo error; the first match in this order wins.
_STATUS: list[tuple[type[Exception], int, str]] = [
    (OperationRefused, 409, "Refused"),
    (AuditUnavailable, 503, "Audit unavailable"),  # nothing was sent; try again later
    (ProbeError, 503, "Probe unavailable"),  # this host could not send it: not the servers
    (NotFound, 404, "Not found"),
    (PeerTimeout, 504, "Peer timed out"),
    (PeerUnreachable, 502, "Peer unreachable"),
    (AuthenticationFailed, 502, "OMAPI authentication failed"),
    (Refused, 409, "Refused by dhcpd"),
    (ConvergenceError, 504, "Peers did not settle"),
    (PeerError, 502, "OMAPI error"),
    (UnknownPair, 404, "Not found"),
    (ConfigError, 409, "Not configured"),
]


def problem(status: int, title: str, detail: str, errors: Any = None,
            headers: dict[str, str] | None = None, type_: str = "about:blank",
            extra: dict[str, Any] | None = None) -> Response:
    """A problem+json response. ``type_`` is "about:blank" (the status says it all) or an
    omapifo error's problem type; ``extra`` adds extension members."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status,
                            "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def from_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    status = error.code or 500
    if status >= 500:
        log.error("internal error", exc_info=error)
        return problem(500, "Internal Server Error", "the service failed; see its log")
    errors = data.get("messages") or data.get("errors")
    detail = data.get("message") or error.description or error.name
    if errors and status == 422:
        detail = "the request is not valid; see errors"
    return problem(status, error.name, str(detail), errors, data.get("headers"))


def _status_of(cls: type[OmapifoError]) -> tuple[int, str]:
    for known, status, title in _STATUS:
        if issubclass(cls, known):
            return status, title
    return 409, "Failed"


def from_omapifo_error(error: OmapifoError) -> Response:
    """The error's own problem type (the client raises the same class from it) and its
    message, peer and operation as extension members."""
    status, title = _status_of(type(error))
    return problem(status, title, str(error), type_=type(error).problem_type(),
                   extra={"message": error.message, "peer": error.peer,
                          "operation": error.operation})


def from_value_error(error: ValueError) -> Response:
    return problem(400, "Bad Request", str(error))


def from_error_kind(kind: str | None, detail: str) -> Response:
    """The problem a raised error of class ``kind`` (a PeerView's ``error_kind``, e.g.
    "PeerTimeout") would have given: 504 for a timeout, 502 for other peer errors."""
    cls = getattr(omapifo, kind or "", None)
    if not (isinstance(cls, type) and issubclass(cls, OmapifoError)):
        cls = PeerError
    status, title = _status_of(cls)
    return problem(status, title, detail, type_=cls.problem_type())


def from_busy(error: Busy) -> Response:
    return problem(503, "Busy", str(error), headers={"Retry-After": str(error.retry_after)})


def query_errors(query: bytes, allowed: frozenset[str]) -> dict[str, list[str]]:
    """What is wrong with a raw query string, by parameter name: not UTF-8 once
    percent-decoded, given more than once, or not one of ``allowed``."""
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for item in query.split(b"&"):
        if not item:
            continue
        raw_name, _, raw_value = item.partition(b"=")
        shown = raw_name.decode("latin-1")  # printable either way, for the message
        try:
            name = unquote_to_bytes(raw_name.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            errors[shown] = ["the name is not valid UTF-8"]
            continue
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            errors[name] = [f"unknown parameter (this endpoint takes: {known})"]
        elif name in seen:
            errors[name] = ["given more than once"]
        else:
            try:
                unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                errors[name] = ["the value is not valid UTF-8"]
        seen.add(name)
    return errors
