"""The v1 endpoints. Thin: parse with a schema, call the library, dump with a schema."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from marshmallow import ValidationError
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from omapifo import (ConfigError, Observation, Pair as PairContract, ProbeError, Role,
                     UnknownPair)

from . import schemas as s

F = TypeVar("F", bound=Callable[..., Any])
blp = Blueprint("v1", __name__, url_prefix="/api/v1",
                description="ISC dhcpd failover pairs: state, history, partner-down, leases")


# The statuses the library's errors answer (problems._STATUS), as the views document them
# with @_problems; a view with more to say about a status documents it itself. The app
# adds what its hooks answer to every operation (app._document_hook_errors).
PROBLEMS: dict[int, str] = {
    403: "a reader's token: this needs an operator token",
    404: "dhcpd has no such object (lease, host, failover state)",
    409: "refused: by a guard, by dhcpd, or the pair is not configured for it",
    502: "a peer cannot be reached, or answers but cannot be read, over OMAPI",
    503: "the audit trail cannot be written (nothing was sent); retry later",
    504: "a peer did not answer within the pair's timeout, or the peers did not settle",
}


def _problems(*codes: int) -> Callable[[F], F]:
    """Document the problem responses ``codes`` with their reasons in PROBLEMS."""
    def apply(func: F) -> F:
        for code in codes:
            func = blp.alt_response(code, schema=s.ProblemSchema,
                                    description=PROBLEMS[code])(func)
        return func
    return apply


def _change(body: type[Any], answer: type[Any], refused: str, *, status: int = 200,
            problems: tuple[int, ...] = (404, 502, 503, 504)) -> Callable[[F], F]:
    """What every view that changes a pair documents and parses: ``?dry_run``, a body that
    confirms with the pair's name, the answer, a 409 saying what a refusal is, and the
    statuses the library's errors answer. Stacked as the decorators would be, top first."""
    decorators = [blp.arguments(s.DryRunQuerySchema, location="query"), blp.arguments(body),
                  blp.response(status, answer),
                  blp.alt_response(409, schema=s.ProblemSchema, description=refused),
                  _problems(*problems)]

    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


def _service() -> Any:
    return current_app.extensions["omapifo"]


def _pair(name: str) -> PairContract:
    """The pair ``name``: the views call the pair contract (omapifo.Pair) only."""
    pairs = _service().pairs
    if name not in pairs:  # 404, and the client raises UnknownPair again (problems.py)
        raise UnknownPair(f"no pair named {name!r} (configured: "
                          f"{', '.join(sorted(pairs)) or 'none'})", operation="find pair")
    return pairs[name]


def _role(role: str) -> str:
    if role not in s.ROLES:
        abort(400, message=f"peer must be 'primary' or 'secondary', not {role!r}")
    return role


def _confirm(name: str, body: dict[str, Any]) -> None:
    if body["confirm"] is None:
        abort(400, message=f'this changes the pair: send {{"confirm": "{name}"}} to go ahead')
    if body["confirm"] != name:
        abort(400, message=f"confirm must be the pair's name ({name!r}) to go ahead")


def _confirmed(name: str, body: dict[str, Any], role: str | None = None) -> PairContract:
    """The pair ``name``, once ``body`` confirms the change with its name; the library
    guards and audits the change (the pair's sink is the service's store). Checked in
    the order of the URL: an unknown pair is 404 even when the peer is wrong too."""
    fp = _pair(name)
    if role is not None:
        _role(role)
    _confirm(name, body)
    return fp


def _guarded(action: str, query: dict[str, Any], body: dict[str, Any], pair: str,
             role: str) -> Any:
    """partner-down or shutdown, with the caller as actor."""
    fp = _confirmed(pair, body, role)
    method = fp.partner_down if action == "partner-down" else fp.shutdown
    return method(role, force=body["force"], reason=body["reason"], dry_run=query["dry_run"],
                  actor=g.caller.name)


def _json(body: bytes) -> Response:
    return Response(body, mimetype="application/json")


@blp.route("/pairs")
class Pairs(MethodView):
    @blp.response(200, s.PairListSchema)
    @blp.alt_response(503, schema=s.ProblemSchema, description="a pair not polled yet is "
                      "being read by another request; retry after Retry-After seconds")
    def get(self) -> Any:
        """Every configured pair, with health and each peer's states (from the poller's cache)."""
        poller = _service().poller
        return {"pairs": [poller.get(name).state for name in sorted(_service().pairs)]}


_FRESH = s.FreshQuerySchema()


@blp.route("/pairs/<string:pair>")
class Pair(MethodView):
    @blp.doc(parameters=[{"in": "query", "name": "fresh", "schema": {"type": "boolean"},
                          "required": False, "description": "read OMAPI now"}])
    @blp.response(200, s.PairStateSchema)
    @blp.alt_response(422, schema=s.ProblemSchema, description="a malformed query")
    @blp.alt_response(503, schema=s.ProblemSchema, description="a read of this pair is "
                      "already under way (?fresh=1); retry after Retry-After seconds")
    def get(self, pair: str) -> Any:
        """Both peers' full failover state, reachability and health; ``?fresh=1`` reads now.

        Served from the poller's cache, serialised once per poll. This is what monitoring
        polls, so the query is parsed with a prebuilt schema, and only when there is one:
        webargs' per-request machinery was half the cost of this request (measured,
        docs/performance.md). Unknown, repeated and non-UTF-8 parameters were refused
        before this (app._strict_query). A fresh read is shared (api/flights.py).
        """
        fresh = False
        if request.args:
            try:
                fresh = _FRESH.load(request.args.to_dict())["fresh"]
            except ValidationError as exc:
                abort(422, errors={"query": exc.messages})
        _pair(pair)
        return _json(_service().poller.get(pair, fresh=fresh).body)


@blp.route("/pairs/<string:pair>/history")
class History(MethodView):
    @blp.arguments(s.HistoryQuerySchema, location="query")
    @blp.response(200, s.HistorySchema)
    def get(self, query: dict[str, Any], pair: str) -> Any:
        """State transitions seen by the poller, newest first."""
        _pair(pair)
        rows, total = _service().store.transitions(pair, since=query["since"],
                                                   limit=query["limit"], offset=query["offset"])
        return {"pair": pair, "total": total, "limit": query["limit"],
                "offset": query["offset"], "transitions": rows}


@blp.route("/pairs/<string:pair>/peers/<string:role>")
class Peer(MethodView):
    @blp.response(200, s.PeerSchema)
    @blp.alt_response(502, schema=s.ProblemSchema, description="the peer cannot be reached")
    @blp.alt_response(503, schema=s.ProblemSchema, description="a read of this pair is "
                      "already under way; retry after Retry-After seconds")
    @blp.alt_response(504, schema=s.ProblemSchema,
                      description="the peer did not answer within the pair's timeout")
    def get(self, pair: str, role: str) -> Any:
        """One peer's failover state, read over OMAPI now (a read shared with every fresh
        read of the pair, reused for up to ``fresh_min_age`` seconds).

        Unlike the pair's view (which reports a dead peer inside a 200 so that the survivor
        stays readable), this answers with the peer's own fate: 502 unreachable, 504 timed out.
        """
        from .problems import from_error_kind

        _pair(pair)
        _role(role)  # before any read: a bad role costs no OMAPI traffic
        view = _service().poller.get(pair, fresh=True).state.peer(role)
        if not view.reachable:
            return from_error_kind(view.error_kind, view.error or "unreachable")
        return view


@blp.route("/pairs/<string:pair>/peers/<string:role>/partner-down")
class PartnerDown(MethodView):
    @_change(s.ConfirmSchema, s.ActionResultSchema, "refused by the guard")
    def post(self, query: dict[str, Any], body: dict[str, Any], pair: str, role: str) -> Any:
        """Move a peer into partner-down, guarded (see the library's partner_down)."""
        return _guarded("partner-down", query, body, pair, role)


@blp.route("/pairs/<string:pair>/peers/<string:role>/shutdown")
class Shutdown(MethodView):
    @_change(s.ConfirmSchema, s.ActionResultSchema, "refused by the guard")
    def post(self, query: dict[str, Any], body: dict[str, Any], pair: str, role: str) -> Any:
        """Stop a peer's dhcpd for planned maintenance (OMAPI control object)."""
        return _guarded("shutdown", query, body, pair, role)


@blp.route("/pairs/<string:pair>/probe")
class Probe(MethodView):
    @blp.response(200, s.PairProbeSchema)
    @blp.alt_response(409, schema=s.ProblemSchema, description="the pair has no probe_giaddr, "
                      "or the service has not probed it yet")
    @blp.alt_response(503, schema=s.ProblemSchema, description="the service's last round "
                      "could not be sent (port 67, its relay address)")
    def get(self, pair: str) -> Any:
        """The service's last scheduled DHCP probe round of the pair (every probe_interval
        seconds); what a reader's token, the status page and `omapifo check --probe --api`
        see. Sends nothing."""
        _pair(pair)
        poller = _service().poller
        found, failure = poller.last_probe(pair), poller.probe_failure(pair)
        if failure:
            raise ProbeError(f"the last probe round could not be sent: {failure}",
                             operation="last probe")
        if found is None:
            raise ConfigError(f"pair {pair!r} has not been probed yet: it has no probe_giaddr, "
                              "or the first round is under way (every probe_interval seconds)",
                              operation="last probe")
        return found

    @blp.arguments(s.ProbeRequestSchema)
    @blp.response(200, s.PairProbeSchema)
    @blp.alt_response(409, schema=s.ProblemSchema, description="the pair has no probe_giaddr")
    @blp.alt_response(503, schema=s.ProblemSchema, description="the service cannot send a "
                      "DHCP probe from its probe_giaddr (port 67 taken or not permitted)")
    def post(self, body: dict[str, Any], pair: str) -> Any:
        """Probe the pair's servers with a relayed DHCPDISCOVER now: does each answer a
        client? Never a DHCPREQUEST, so no address is bound (docs/probes.md). A POST
        because it sends traffic to the servers (an operator's token), though it changes
        nothing; one round at a time, at most one a second."""
        return _pair(pair).probe(body["peers"], timeout=body["timeout"], secs=body["secs"],
                                 macs={Role.parse(r): m for r, m in body["macs"].items()})


@blp.route("/pairs/<string:pair>/leases/<string:ip>")
class LeaseByIp(MethodView):
    @blp.response(200, s.LeaseViewSchema)
    @_problems(404, 409, 502, 504)
    def get(self, pair: str, ip: str) -> Any:
        """A lease as both peers see it, with agreement and differences."""
        return _pair(pair).lease(ip)


@blp.route("/pairs/<string:pair>/leases")
class LeaseSearch(MethodView):
    @blp.arguments(s.LeaseListQuerySchema, location="query")
    @blp.response(200, s.LeaseListSchema)
    # two shapes: a page of the list, or (the lookup form, ?mac= / ?client_id=) one lease
    @blp.doc(responses={"200": {"description": "a page of the lease list (LeaseList); with "
                                "?mac= or ?client_id=, that one lease (LeaseView)",
                                "content": {"application/json": {"schema": {"oneOf": [
                                    {"$ref": "#/components/schemas/LeaseList"},
                                    {"$ref": "#/components/schemas/LeaseView"}]}}}}})
    @blp.alt_response(409, schema=s.ProblemSchema, description="no dhcpd_conf configured: "
                      "the addresses to list come from it")
    @blp.alt_response(503, schema=s.ProblemSchema, description="the scans requests may run "
                      "of this pair are all under way; retry after Retry-After seconds")
    @_problems(404, 502, 504)
    def get(self, query: dict[str, Any], pair: str) -> Any:
        """A page of the pair's leases, one row per address, scanned live on both peers
        (``subnet``, ``state``, ``hostname`` filter; ``next_cursor`` leads to the next page).
        With ``?mac=`` or ``?client_id=`` instead: that one lease as a LeaseView, as
        ``GET /pairs/{pair}/leases/{ip}`` answers."""
        return _lease_list(query, pair)


def _lease_list(query: dict[str, Any], pair: str) -> Any:
    fp = _pair(pair)
    filters = ("subnet", "state", "hostname", "cursor")
    if query["mac"] is not None or query["client_id"] is not None:
        if query["mac"] is not None and query["client_id"] is not None:
            abort(400, message="give exactly one of ?mac= or ?client_id=")
        if any(query[k] is not None for k in filters):
            abort(400, message="?mac= and ?client_id= look one lease up: they take no "
                               f"list filters ({', '.join(filters)})")
        view = fp.lease(mac=query["mac"], client_id=query["client_id"])
        return _json(json.dumps(s.LeaseViewSchema().dump(view)).encode())
    # the same lookups as a pool scan: from the peers' budget (pool_scan_rate), bounded
    # and shared by the poller (503 + Retry-After beyond the bounds)
    return _service().poller.lease_list(pair, subnet=query["subnet"], state=query["state"],
                                        hostname=query["hostname"], after=query["cursor"],
                                        limit=query["limit"])


@blp.route("/leases")
class LeaseFind(MethodView):
    @blp.arguments(s.LeaseFindQuerySchema, location="query")
    @blp.response(200, s.LeaseSearchSchema)
    @blp.alt_response(503, schema=s.ProblemSchema, description="the scans requests may run "
                      "are all under way; retry after Retry-After seconds")
    def get(self, query: dict[str, Any]) -> Any:
        """Where an IP, a MAC or a client hostname has leases, across every configured pair:
        which pair, which peer serves it, which state (an IP or MAC is one lookup per peer;
        a hostname scans each pair, at most 1000 matches: ``truncated`` says when more
        matched). An identical search under way is shared."""
        return _service().poller.find(query["q"])


@blp.route("/pairs/<string:pair>/leases/<string:ip>/release")
class LeaseRelease(MethodView):
    @_change(s.ReleaseSchema, s.LeaseViewSchema, "the lease is not active")
    def post(self, query: dict[str, Any], body: dict[str, Any], pair: str, ip: str) -> Any:
        """Release an active lease on the peer that serves it."""
        return _confirmed(pair, body).release(ip, actor=g.caller.name,
                                              dry_run=query["dry_run"])


@blp.route("/pairs/<string:pair>/pools")
class Pools(MethodView):
    @blp.arguments(s.FreshQuerySchema, location="query")
    @blp.response(200, s.PoolReportSchema)
    @blp.alt_response(409, schema=s.ProblemSchema, description="no dhcpd_conf configured, "
                      "or the configured file cannot be read")
    @blp.alt_response(503, schema=s.ProblemSchema, description="a scan of this pair is "
                      "already under way; retry after Retry-After seconds")
    @_problems(502, 504)
    def get(self, query: dict[str, Any], pair: str) -> Any:
        """Pool counts and runway from the last scan (with its time); ``?fresh=1`` scans now
        (a scan younger than ``pool_fresh_min_age`` seconds is reused)."""
        _pair(pair)
        return _service().poller.pools(pair, fresh=query["fresh"])


@blp.route("/pairs/<string:pair>/pools/history")
class PoolHistory(MethodView):
    @blp.arguments(s.PoolHistoryQuerySchema, location="query")
    @blp.response(200, s.PoolHistorySchema)
    def get(self, query: dict[str, Any], pair: str) -> Any:
        """The poller's complete pool scans over time (counts, utilisation and each peer's
        runway per pool), oldest first, kept for ``pool_history_retention`` seconds."""
        service = _service()
        _pair(pair)
        points = service.store.pool_history(pair, since=query["since"], limit=query["limit"])
        return {"pair": pair, "retention": service.config.service.pool_history_retention,
                "points": points}


@blp.route("/audit")
class Audit(MethodView):
    @blp.arguments(s.PageQuerySchema, location="query")
    @blp.response(200, s.AuditSchema)
    @_problems(403)
    def get(self, query: dict[str, Any]) -> Any:
        """Who did what: every partner-down, shutdown and release, refused or done."""
        if not g.caller.operator:
            abort(403, message="the audit trail is for operator tokens")
        rows, total = _service().store.audit(limit=query["limit"], offset=query["offset"])
        return {"total": total, "limit": query["limit"], "offset": query["offset"],
                "entries": rows}


@blp.route("/pairs/<string:pair>/peers/<string:role>/maintenance")
class Maintenance(MethodView):
    @_change(s.MaintenanceSchema, s.MaintenanceReportSchema, "refused: both peers must be "
             "normal (nothing was sent)", problems=(503,))
    def post(self, query: dict[str, Any], body: dict[str, Any], pair: str, role: str) -> Any:
        """Planned maintenance of a peer in one step: shut it down, wait until its host
        refuses the connection and its partner is communications-interrupted, move the
        partner to partner-down. Answers when it is over (about 15 s in the lab) with every
        step; ``completed`` false with ``changed`` true means it stopped half-way (the
        message says where and why). One audit record (action ``maintenance``)."""
        return _confirmed(pair, body, role).maintenance(role, reason=body["reason"],
                                                  dry_run=query["dry_run"], wait=body["wait"],
                                                  actor=g.caller.name)

    @blp.response(200, s.ObservationSchema)
    @blp.alt_response(503, schema=s.ProblemSchema, description="a read of this pair is "
                      "already under way; retry after Retry-After seconds")
    def get(self, pair: str, role: str) -> Any:
        """The way back after maintenance, without waiting: both peers' states read now
        (recover, recover-wait with its end time, normal). Poll it until ``normal`` is
        true; dhcpd resynchronises by itself once started, nothing is to be sent."""
        _pair(pair)
        _role(role)
        return Observation.of(_service().poller.get(pair, fresh=True).state)
