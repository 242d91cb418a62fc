"""The Flask application factory."""
from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask_smorest import Api
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.sansio.utils import host_is_trusted

from omapifo import Config, FailoverPair, OmapifoError, ServiceConfig, open_pair

from . import page, problems
from .auditing import ServiceAudit, record_rejected
from .auth import Caller, identify
from .drills import Drills
from .flights import Busy
from .metrics import Metrics
from .poller import Poller
from .schemas.pairs import ROLES
from .schemas.problems import ProblemSchema
from .store import Store
from .views import PROBLEMS, blp
from . import hostviews  # noqa: F401  - registers the host endpoints on blp


MAX_BODY = 64 * 1024  # a confirmation body is tiny; anything larger is refused with 413
DATABASE_NAME = "omapifo.sqlite3"


def database_path(service: ServiceConfig, environ: Mapping[str, str]) -> Path:
    """Where the service keeps its SQLite database: ``[service] database`` if configured;
    else, under systemd (``StateDirectory=`` sets ``$STATE_DIRECTORY``), the first state
    directory's omapifo.sqlite3; else ./omapifo.sqlite3. The library reads no
    environment; this interface does."""
    if service.database is not None:
        return service.database
    state = environ.get("STATE_DIRECTORY", "").split(":")[0]  # several dirs: colon-separated
    return Path(state) / DATABASE_NAME if state else Path(DATABASE_NAME)


def allowed_hosts(service: ServiceConfig) -> tuple[str, ...]:
    """The Host names the service answers to: its listen address, localhost, 127.0.0.1
    and ``[service] allowed_hosts``. A DNS-rebinding page reaches the service under its
    own name (evil.example resolving to 127.0.0.1), which is never one of these; a name
    that only this host or its admin chose cannot be the attacker's."""
    listen = service.listen.rpartition(":")[0] or "127.0.0.1"
    return tuple(dict.fromkeys((listen, "localhost", "127.0.0.1", *service.allowed_hosts)))


class _ProblemApi(Api):
    """flask-smorest's Api, with its error payload replaced by RFC 9457 problem+json."""

    ERROR_SCHEMA = ProblemSchema  # documents every error response with the real shape
    # No catch-all ``default`` response: with one, any status conforms to the document (a
    # client, or the fuzz's status check, learns nothing). Each operation lists the
    # statuses it can answer instead (views.py, _document_hook_errors).
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        return problems.from_http_exception(error)


@dataclass
class Service:
    config: Config
    pairs: dict[str, FailoverPair]
    store: Store
    metrics: Metrics
    poller: Poller
    database: Path
    drills: Drills
    closed: bool = field(default=False)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.drills.stop()
        self.poller.stop()
        for pair in self.pairs.values():
            pair.close()
        self.store.close()


def _document_problems(api: Api) -> None:
    """Every error response is ``application/problem+json`` on the wire: say so in the
    OpenAPI document (flask-smorest documents its errors as application/json)."""
    def fix(response: dict[str, Any]) -> None:
        content = response.get("content")
        if content and "application/json" in content:
            response["content"] = {"application/problem+json": content["application/json"]}

    for response in api.spec.components.responses.values():
        fix(response)
    for ops in api.spec._paths.values():  # apispec keeps the paths here; no public setter
        for op in ops.values():
            if not isinstance(op, dict):
                continue  # path-level "parameters"
            for code, response in op.get("responses", {}).items():
                if code == "default" or str(code)[0] in "45":
                    fix(response)


# The errors every operation can get from the hooks in create_app and from Flask, before
# or around its handler; the views document what their own code and the library answer
# (views.PROBLEMS). A view's own description of a status is kept.
_HOOK_ERRORS: dict[int, str] = {
    400: "a Host the service does not answer to, or the request's own bad input",
    401: "no valid token: send Authorization: Bearer <token>",
    422: "a query parameter the operation does not take, given twice, or not UTF-8; or "
         "a query or body that does not match its schema",
}
_CHANGE_ERRORS: dict[int, str] = {
    403: PROBLEMS[403],
    413: f"a body larger than {MAX_BODY} bytes",
}
_PAIR_ERROR = (404, "no pair of that name is configured")


def _document_hook_errors(api: Api) -> None:
    """Add to every operation of the document the statuses the hooks answer (401 without
    a token, 400 for a Host not allowed, 422 for the strict query, 403 and 413 for a
    change, 404 for an unknown pair), so that the document lists every status an
    operation returns (tests/api/test_fuzz.py fails on any other)."""
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, ops in api.spec._paths.items():  # apispec keeps the paths here; no public setter
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue  # path-level "parameters"
            errors = dict(_HOOK_ERRORS)
            if method in ("post", "put", "patch", "delete"):
                errors.update(_CHANGE_ERRORS)
            responses = op["responses"]
            for status, description in errors.items():
                if str(status) not in responses and status not in responses:
                    responses[str(status)] = {"description": description,
                                              "content": dict(problem)}
            if "{pair}" in path:
                status, description = _PAIR_ERROR
                own = responses.get(str(status)) or responses.get(status)
                if own is None:
                    responses[str(status)] = {"description": description,
                                              "content": dict(problem)}
                else:  # the view's own 404 (no such lease or host): an unknown pair too
                    own["description"] = f"{description}; or {own['description']}"


def _document_path_parameters(api: Api, pair_names: list[str]) -> None:
    """Say in the OpenAPI document which values the path parameters take: ``pair`` one of
    the configured pairs, ``role`` primary or secondary, ``ip`` an IPv4 address.

    flask-smorest documents every ``<string:...>`` as a free string, so a client generated
    from the document, or a fuzzer (tests/api/test_fuzz.py), guesses pair names and
    nearly every request is a 404 that never reaches the handler. The pair names are no
    secret here: the open ``/healthz`` lists them too. The handlers still check every
    value themselves; this only describes what they accept."""
    schemas: dict[str, tuple[dict[str, Any], str]] = {
        "role": ({"type": "string", "enum": list(ROLES)}, "the peer"),
        "ip": ({"type": "string", "format": "ipv4"}, "the lease's IPv4 address"),
    }
    if pair_names:  # an enum must not be empty; a service without pairs keeps the string
        schemas["pair"] = ({"type": "string", "enum": sorted(pair_names)},
                           "a configured pair's name")
    for ops in api.spec._paths.values():  # apispec keeps the paths here; no public setter
        for param in ops.get("parameters", []):  # flask-smorest puts path parameters here
            if param.get("in") == "path" and param.get("name") in schemas:
                schema, description = schemas[param["name"]]
                param["schema"] = dict(schema)
                param.setdefault("description", description)


def create_app(config: Config, *, poll: bool = True) -> Flask:
    """Build the service for ``config``; ``poll=True`` starts the scheduled health polling.

    The scheduler starts here, never at import time; call ``app.extensions["omapifo"].close()``
    (``omapifo serve`` does) to stop it and drop the OMAPI connections.
    """
    app = Flask("omapifo.api")
    app.config.update(
        API_TITLE="omapifo", API_VERSION="v1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1", OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=MAX_BODY,
    )
    svc_cfg = config.service
    # Flask >= 3.1 checks every request's Host against this list (werkzeug compares the
    # names, not the ports); the first before_request below answers the refusal
    hosts = allowed_hosts(svc_cfg)
    app.config["TRUSTED_HOSTS"] = list(hosts)
    database = database_path(svc_cfg, os.environ)
    store = Store(database)
    metrics = Metrics(critical_after=svc_cfg.comms_interrupted_warning)
    audit = ServiceAudit(store, metrics)
    # open_pair: the one place that knows which implementation serves a pair; it rates
    # health with comms_interrupted_warning and caps scans at pool_scan_rate, as here
    pairs = {name: open_pair(config, name, audit=audit) for name in config.pairs}
    poller = Poller(pairs, store, metrics, svc_cfg.poll_interval, svc_cfg.pool_interval,
                    svc_cfg.pool_scan_rate, fresh_min_age=svc_cfg.fresh_min_age,
                    fresh_wait=svc_cfg.fresh_wait,
                    pool_fresh_min_age=svc_cfg.pool_fresh_min_age,
                    pool_retention=svc_cfg.pool_history_retention,
                    probe_interval=svc_cfg.probe_interval)
    drills = Drills(svc_cfg.drills, pairs, metrics)
    service = Service(config, pairs, store, metrics, poller, database, drills)
    app.extensions["omapifo"] = service

    api = _ProblemApi(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]})
    api.register_blueprint(blp)
    page.init_app(app)  # a plain Flask blueprint: the status page is not in the OpenAPI document
    _document_hook_errors(api)
    _document_problems(api)
    _document_path_parameters(api, list(config.pairs))
    app.register_error_handler(OmapifoError, problems.from_omapifo_error)
    app.register_error_handler(ValueError, problems.from_value_error)
    app.register_error_handler(RecursionError, lambda e: problems.problem(
        400, "Bad Request", "the request body is nested too deeply"))
    app.register_error_handler(Busy, problems.from_busy)
    query_names = _query_parameters(app, api)

    @app.before_request
    def _known_host() -> Response | None:
        """A Host the service does not answer to: 400 before anything else (Flask keeps
        the SecurityError as the routing exception; authentication would answer 401)."""
        if isinstance(request.routing_exception, SecurityError):
            return problems.problem(400, "Bad Request", "this service does not answer to "
                                    f"the Host {request.headers.get('Host', '')!r}: add the "
                                    "name clients use to [service] allowed_hosts")
        return None

    @app.before_request
    def _authenticate() -> Response | None:
        if request.blueprint == page.page.name:
            return page.authorize(svc_cfg)  # the status page: its cookie, or open
        path = request.path
        if (path == "/healthz" and svc_cfg.open_healthz) or (
                path == "/metrics" and svc_cfg.open_metrics) or path in (
                "/api/v1/openapi.json", "/api/v1/docs"):
            g.caller = Caller("anonymous", "reader")
            return None
        caller = identify(request.headers.get("Authorization"), svc_cfg.tokens)
        if caller is None:
            return problems.problem(401, "Unauthorized", "send Authorization: Bearer <token> "
                                    "with a token from the service's configuration",
                                    headers={"WWW-Authenticate": 'Bearer realm="omapifo"'})
        g.caller = caller  # also for a 403: the audit names who was turned away
        if request.method not in ("GET", "HEAD", "OPTIONS") and not caller.operator:
            return problems.problem(403, "Forbidden", f"token {caller.name!r} is a reader; "
                                    "this needs an operator token")
        return None

    @app.before_request
    def _strict_query() -> Response | None:
        """The query string as a whole, for every endpoint (after authentication): a name
        the endpoint does not document, a name given twice, or bytes that are not UTF-8
        is a 422 naming the parameter. Without this, webargs dropped unknown names
        (``?dry-run=1`` on a POST acted for real), took the first of repeated ones, and
        werkzeug turned invalid UTF-8 into U+FFFD."""
        if request.url_rule is None:
            return None  # no such route: Flask answers 404/405
        method = "GET" if request.method == "HEAD" else request.method
        allowed = query_names.get((request.url_rule.rule, method), frozenset())
        errors = problems.query_errors(request.query_string, allowed)
        if errors:
            return problems.problem(422, "Unprocessable Entity", "; ".join(
                f"query parameter {name!r}: {msgs[0]}" for name, msgs in errors.items()),
                {"query": errors})
        return None

    app.after_request(lambda response: record_rejected(audit, response, pairs))

    @app.get("/healthz")
    def healthz() -> Any:
        """The service itself: up, and whether the poller runs."""
        return {"status": "ok", "poller": poller.running, "polls": poller.polls,
                "pairs": sorted(pairs)}

    @app.get("/metrics")
    def metrics_view() -> Response:
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/docs")
    def docs() -> Response:
        """A readable page of the API, generated from the OpenAPI document (works offline)."""
        spec = api.spec.to_dict()
        rows = []
        for path, ops in sorted(spec["paths"].items()):
            for method, op in ops.items():
                if method in ("get", "post"):
                    rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>"
                                f"{html.escape(path)}</code></td><td>"
                                f"{html.escape(op.get('summary', ''))}</td></tr>")
        page = ("<!doctype html><title>omapifo API</title><h1>omapifo REST API v1</h1>"
                "<p>Machine-readable: <a href='/api/v1/openapi.json'>openapi.json</a>. "
                "Send <code>Authorization: Bearer TOKEN</code>.</p><table border=1 "
                "cellpadding=4>" + "".join(rows) + "</table>")
        return Response(page, mimetype="text/html")

    app.wsgi_app = _CachedState(app.wsgi_app, service, hosts)  # type: ignore[method-assign]
    if svc_cfg.trusted_proxies:
        # X-Forwarded-Proto says whether the client came over TLS (the page's cookie is
        # Secure then); X-Forwarded-For the client's address. Not X-Forwarded-Host: the
        # Host allow-list checks the Host header itself, which a page's script cannot set
        # (a forbidden header name in the Fetch standard), while X-Forwarded-Host it can.
        n = svc_cfg.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    if poll:
        poller.start()
        drills.start()
    return app


def _query_parameters(app: Flask, api: Api) -> dict[tuple[str, str], frozenset[str]]:
    """(rule, method) -> the query parameters its OpenAPI operation documents; endpoints
    outside the document (/healthz, /metrics, the docs) take none."""
    paths = api.spec.to_dict()["paths"]
    out: dict[tuple[str, str], frozenset[str]] = {}
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<string:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
        for method in rule.methods or ():
            op = paths.get(path, {}).get(method.lower(), {})
            out[(rule.rule, method)] = frozenset(
                p["name"] for p in op.get("parameters", []) if p.get("in") == "query")
    return out


class _CachedState:
    """WSGI fast path for what monitoring polls all day: ``GET /api/v1/pairs/{pair}``
    with no query, answered from the poller's snapshot (serialised once per poll through
    PairStateSchema) without Flask's dispatch. Everything else, and every case this does
    not handle (no snapshot yet, unknown pair, missing or bad token, a query), goes to
    Flask unchanged. Why by hand: on one 2-core machine Flask's dispatch kept the endpoint
    at 0.75x Kea's ha-heartbeat rate (docs/performance.md, bench/bench_api.py). A Host
    outside ``hosts`` goes to Flask too, which refuses it.
    """

    PREFIX = "/api/v1/pairs/"

    def __init__(self, wsgi_app: Any, service: Service, hosts: tuple[str, ...]) -> None:
        self.wsgi_app = wsgi_app
        self.service = service
        self.hosts = hosts

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if (environ.get("REQUEST_METHOD") == "GET" and path.startswith(self.PREFIX)
                and not environ.get("QUERY_STRING")):
            name = path[len(self.PREFIX):]
            snap = self.service.poller.cached(name) if "/" not in name else None
            if snap is not None and host_is_trusted(environ.get("HTTP_HOST"), self.hosts) \
                    and identify(environ.get("HTTP_AUTHORIZATION"),
                                 self.service.config.service.tokens):
                start_response("200 OK", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(snap.body)))])
                return [snap.body]
        return self.wsgi_app(environ, start_response)
