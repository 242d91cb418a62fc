"""The status page: server-rendered HTML for a NOC wall, read-only (issue 16).

``/`` shows every pair, ``/pairs/<pair>`` one pair with its timeline and pool charts. The
pages hold the states in their first HTML; a few lines of JavaScript then fetch fragments
(``/page/...``) of the same templates, so the page updates without a reload. Why polling
fragments and not server-sent events: waitress serves each request on one of a few threads
(8 by default), and every open event stream would hold one of them for as long as a wall
screen stays on; a fragment fetch holds one for a millisecond.

Access: a login form takes a token from the service's configuration (reader or operator;
the page never changes anything) and sets a signed, HttpOnly, SameSite=Strict cookie,
Secure when the request came over TLS (behind a TLS proxy: ``[service] trusted_proxies``,
whose X-Forwarded-Proto api/app.py hands to werkzeug's ProxyFix); or no login when
``open_status_page`` is set. The API's bearer tokens are untouched: these
routes are a blueprint of their own and ``api/app.py`` hands them to :func:`authorize`.
"""
from __future__ import annotations

import hmac
import json
import os
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import (Blueprint, Response, abort, current_app, g, make_response, redirect,
                   render_template, request, url_for)
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup

from omapifo import (DoctorReport, Level, PairState, PeerView, PoolReport, ProbeResult, Role,
                     ServiceConfig, doctor_next_step, format_duration, state_level)

from .auth import Caller, identify
from .charts import Series, line_chart

page = Blueprint("page", __name__, template_folder="templates")

COOKIE = "omapifo_session"
SESSION_SECONDS = 12 * 3600  # a wall screen logs in once a shift
# Routes reachable without a session: the login form itself.
OPEN_ENDPOINTS = frozenset({"page.login", "page.login_post"})
# Fragments are fetched by the page's script: they answer 401, not a redirect to the form.
FRAGMENT_PREFIX = "/page/"
# Why at most every second: a state change must show within the poll interval plus two
# seconds; the poller has it within one interval, the page fetches it within this.
MAX_REFRESH = 1.0
CHART_REFRESH = 15.0  # seconds; pool scans come every pool_interval (minutes)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["OMAPIFO_PAGE_SECRET"], salt="status-page")


def init_app(app: Any) -> None:
    """Register the page on ``app``. The cookie's signing key is random per process: a
    restart ends every session (log in again), and no key sits in a file to leak."""
    app.config["OMAPIFO_PAGE_SECRET"] = os.urandom(32)
    app.register_blueprint(page)


def authorize(svc_cfg: ServiceConfig) -> Response | None:
    """The page's own access rule (``api/app.py`` calls it for this blueprint's routes)."""
    if request.endpoint in OPEN_ENDPOINTS or svc_cfg.open_status_page:
        g.caller = Caller("status-page", "reader")
        return None
    name = _session_name(svc_cfg)
    if name is not None:
        g.caller = Caller(name, "reader")  # whatever the token, the page only reads
        return None
    if request.path.startswith(FRAGMENT_PREFIX) or request.method != "GET":
        return Response("log in again\n", status=401, mimetype="text/plain")
    return redirect(url_for("page.login"))


def _session_name(svc_cfg: ServiceConfig) -> str | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        name = _serializer().loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    # a token removed from the configuration ends its sessions at the next restart anyway;
    # checking here ends them at once when the service reloads its tokens
    known = any(hmac.compare_digest(t.name, str(name)) for t in svc_cfg.tokens)
    return str(name) if known else None


# -- what the templates show ------------------------------------------------------------

@dataclass(frozen=True)
class PeerRow:
    role: str
    endpoint: str
    reachable: bool
    state: str  # the local state's name, or "does not answer"
    partner_state: str
    level: str  # ok, info, warning, critical: the colour, also written out
    age: str  # time in the state, format_duration's words
    error: str
    # the last DHCP probe: "serving" (it answered), "not answering", or "" (no probes)
    serving: str = ""
    probe: str = ""  # what the probe saw, in words (ProbeResult.describe)


@dataclass(frozen=True)
class PairRow:
    name: str
    polled: bool
    level: str
    read_at: str
    peers: tuple[PeerRow, ...]
    notes: tuple[tuple[str, str], ...]  # (level, reason)
    next_step: str
    commands: tuple[str, ...]


def _peer_row(view: PeerView, now: datetime, probed: ProbeResult | None,
              probe_failure: str | None) -> PeerRow:
    level = str(state_level(view.local_state))
    serving = "" if probed is None else "serving" if probed.answered else "not answering"
    said = probed.describe() if probed is not None else ""
    if probe_failure:
        serving, said = "unknown", f"no probe could be sent: {probe_failure}"
    if not view.reachable:
        return PeerRow(str(view.role), str(view.endpoint), False, "does not answer", "-",
                       level, "", view.error or "", serving, said)
    age = format_duration((now - view.since).total_seconds()) if view.since else "unknown"
    return PeerRow(str(view.role), str(view.endpoint), True, str(view.local_state),
                   str(view.partner_state), level, age, "", serving, said)


def _commands(name: str, st: PairState, base_url: str) -> tuple[str, ...]:
    """The commands for the next step (the page performs none): curl with the confirm
    body filled in, and ``omapifo``; each with a dry run first."""
    out: list[str] = []
    for note in st.health.notes:
        if note.partner_down is None:
            continue
        role = str(note.partner_down)
        url = f"{base_url}api/v1/pairs/{name}/peers/{role}/partner-down"
        body = json.dumps({"confirm": name, "reason": "partner really down"})
        curl = (f'curl -X POST -H "Authorization: Bearer $OMAPIFO_TOKEN" '
                f"-H 'Content-Type: application/json' -d {shlex.quote(body)} ")
        out += [curl + shlex.quote(url + "?dry_run=1"), curl + shlex.quote(url),
                f"omapifo partner-down {shlex.quote(name)} {role} --dry-run",
                f"omapifo partner-down {shlex.quote(name)} {role} "
                "--reason 'partner really down'"]
    return tuple(dict.fromkeys(out))  # one note per peer, but say each command once


def pair_row(name: str) -> PairRow:
    svc = current_app.extensions["omapifo"]
    snap = svc.poller.cached(name)
    if snap is None:
        return PairRow(name, False, "unknown", "", (), (), "Not polled yet.", ())
    st: PairState = snap.state
    now = datetime.now(timezone.utc)
    report: PoolReport | None = svc.poller.last_pools(name)
    # the doctor's next step, from what the poller already read: no OMAPI, no dhcpd -t
    step = doctor_next_step(name, DoctorReport(name, state=st), report)
    probed, failure = svc.poller.last_probe(name), svc.poller.probe_failure(name)
    return PairRow(name, True, str(st.health.level), st.read_at.strftime("%H:%M:%S UTC"),
                   tuple(_peer_row(st.peer(r), now, probed.result(r) if probed else None,
                                   failure) for r in Role),
                   tuple((str(n.level), n.reason) for n in st.health.notes
                         if n.level > Level.OK),
                   step, _commands(name, st, request.host_url))


def _pair_or_404(name: str) -> str:
    if name not in current_app.extensions["omapifo"].pairs:
        abort(404)
    return name


def _context() -> dict[str, Any]:
    svc = current_app.extensions["omapifo"]
    cfg = svc.config.service
    return {"refresh_ms": int(1000 * min(MAX_REFRESH, cfg.poll_interval)),
            "chart_refresh_ms": int(1000 * CHART_REFRESH),
            "poll_interval": cfg.poll_interval, "logged_in": not cfg.open_status_page}


def _html(text: str) -> Response:
    resp = make_response(text)
    resp.headers["Cache-Control"] = "no-store"  # a wall screen must never show a stale copy
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    return resp


# -- routes ----------------------------------------------------------------------------

@page.get("/")
def index() -> Response:
    names = sorted(current_app.extensions["omapifo"].pairs)
    return _html(render_template("index.html", pairs=[pair_row(n) for n in names],
                                 **_context()))


@page.get("/page/summary")
def summary() -> Response:
    names = sorted(current_app.extensions["omapifo"].pairs)
    return _html(render_template("_pairs.html", pairs=[pair_row(n) for n in names],
                                 detail=False))


@page.get("/pairs/<string:pair>")
def pair_page(pair: str) -> Response:
    _pair_or_404(pair)
    return _html(render_template("pair.html", p=pair_row(pair), **_context()))


@page.get("/page/pairs/<string:pair>/state")
def pair_state(pair: str) -> Response:
    _pair_or_404(pair)
    return _html(render_template("_pairs.html", pairs=[pair_row(pair)], detail=True))


@page.get("/page/pairs/<string:pair>/charts")
def pair_charts(pair: str) -> Response:
    """The pool charts and the timeline: fetched after the page shows the states."""
    _pair_or_404(pair)
    svc = current_app.extensions["omapifo"]
    by_pool: dict[str, list[Any]] = {}
    for point in svc.store.pool_history(pair):
        by_pool.setdefault(point.pool, []).append(point)
    charts = []
    for pool, points in sorted(by_pool.items()):
        use = line_chart([Series("utilisation", [(p.at, p.utilization) for p in points], max)],
                         title=f"{pool}: utilisation", unit="%", y_max=100)
        runway = line_chart([Series(role, [(p.at, p.runway[role]) for p in points
                                           if role in p.runway])
                             for role in ("primary", "secondary")],
                            title=f"{pool}: runway", unit=" addresses")
        last = points[-1]
        charts.append({"pool": pool, "utilisation": use, "runway": runway, "last": last,
                       "scans": len(points)})
    transitions, total = svc.store.transitions(pair, limit=50)
    return _html(render_template("_charts.html", charts=charts, transitions=transitions,
                                 total=total, pair=pair))


@page.get("/login")
def login() -> Response:
    return _html(render_template("login.html", error=None))


@page.post("/login")
def login_post() -> Response:
    cfg = current_app.extensions["omapifo"].config.service
    caller = identify(f"Bearer {request.form.get('token', '')}", cfg.tokens)
    if caller is None:
        resp = _html(render_template("login.html", error="That token is not in the "
                                     "service's configuration."))
        resp.status_code = 401
        return resp
    resp = make_response(redirect(url_for("page.index")))
    resp.set_cookie(COOKIE, _serializer().dumps(caller.name), max_age=SESSION_SECONDS,
                    httponly=True, samesite="Strict", secure=request.is_secure, path="/")
    return resp


@page.post("/logout")
def logout() -> Response:
    resp = make_response(redirect(url_for("page.login")))
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict",
                       secure=request.is_secure)
    return resp


def level_symbol(level: str) -> Markup:
    """A mark that differs by shape as well as colour (for colour-blind readers)."""
    return Markup({"ok": "&#10003;", "info": "i", "warning": "!",
                   "critical": "&#10007;"}.get(level, "?"))


page.add_app_template_filter(level_symbol, "symbol")
