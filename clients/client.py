"""A Python client of the omapifo REST service (requests).

    from omapifo.clients.client import Client
    c = Client("http://127.0.0.1:8067", token=os.environ["OMAPIFO_TOKEN"])
    st = c.pair("classroom-1-6")                       # a PairState, as the library returns
    st.secondary.local_state                           # FailoverState.NORMAL
    c.partner_down("classroom-1-6", "secondary", reason="primary's PSU died")

Methods return the library's own objects (PairState, PeerView, LeaseView, PoolReport,
ActionResult) loaded from the service's JSON by the same schemas that dumped it
(:mod:`omapifo.api.schemas`); history, audit,
healthz and openapi, which exist only in the service, stay JSON. Errors are raised from
the service's problem+json as omapifo's own exceptions, so a script handles
``PartnerDownRefused`` the same way over HTTP as with the library.
"""
from __future__ import annotations

from typing import Any, TypeVar

import marshmallow as ma
import requests

from omapifo import (ActionResult, HostComparison, HostView, LeaseList, LeaseSearch, LeaseView,
                     MaintenanceReport, NotFound, Observation, OmapifoError, OperationRefused,
                     PairProbe, PairState, PartnerDownRefused, PeerTimeout, PeerUnreachable,
                     PeerView, PoolReport, ProtocolError, ReleaseRefused, from_problem_type)

from omapifo.api import schemas as s

T = TypeVar("T")


def decode(schema: ma.Schema, data: Any, operation: str, kind: type[T]) -> T:
    """The library's object of type ``kind`` that ``schema`` loads from ``data``; a body
    that is not what the v1 schemas describe is a ProtocolError (a service of another
    version, or not an omapifo service at all), never a KeyError."""
    loaded = _load(schema, data, operation, many=False)
    if not isinstance(loaded, kind):
        raise ProtocolError(f"the service's answer loads as {type(loaded).__name__}, not "
                            f"{kind.__name__}", operation=operation)
    return loaded


def decode_many(schema: ma.Schema, data: Any, operation: str, kind: type[T]) -> list[T]:
    """:func:`decode` of a list."""
    loaded = _load(schema, data, operation, many=True)
    if not isinstance(loaded, list) or not all(isinstance(x, kind) for x in loaded):
        raise ProtocolError(f"the service's answer is not a list of {kind.__name__}",
                            operation=operation)
    return loaded


def _load(schema: ma.Schema, data: Any, operation: str, *, many: bool) -> Any:
    try:
        return schema.load(data, many=many)
    except (ma.ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"the service's answer is not an omapifo v1 body: "
                            f"{type(exc).__name__}: {exc}", operation=operation) from None


def _object(body: Any, operation: str) -> dict[str, Any]:
    """A JSON object the service answers as it is (history, audit, healthz, openapi)."""
    if not isinstance(body, dict):
        raise ProtocolError(f"the service's answer is not a JSON object but "
                            f"{type(body).__name__}", operation=operation)
    return body


class ApiError(OmapifoError):
    """The service answered with an error; ``status`` and ``problem`` hold its answer."""

    def __init__(self, message: str, *, status: int, problem: dict[str, Any],
                 operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.status = status
        self.problem = problem


class ApiAuthError(ApiError):
    """401 (no or unknown token) or 403 (a reader token where an operator one is needed)."""


class BadRequest(ApiError):
    """400 or 422: the request was malformed; ``problem["errors"]`` says where."""


def _get(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, dict) else None


def _raise(resp: requests.Response, operation: str) -> None:
    try:
        problem = resp.json()
    except ValueError:
        problem = {"detail": resp.text[:200]}
    detail = str(problem.get("detail") or problem.get("title") or resp.reason)
    status = resp.status_code
    cls = from_problem_type(problem.get("type"))
    if cls is not None:  # the library's own error: raise the same class again
        raise cls(str(problem.get("message") or detail), peer=problem.get("peer"),
                  operation=problem.get("operation") or operation)
    if status == 409:
        cls = {"partner-down": PartnerDownRefused, "release": ReleaseRefused}.get(
            operation, OperationRefused)
        raise cls(detail, operation=operation)
    if status == 404:
        raise NotFound(detail, operation=operation)
    if status == 502:
        raise PeerUnreachable(detail, operation=operation)
    if status == 504:
        raise PeerTimeout(detail, operation=operation)
    if status in (401, 403):
        raise ApiAuthError(detail, status=status, problem=problem, operation=operation)
    if status in (400, 413, 422):
        raise BadRequest(detail, status=status, problem=problem, operation=operation)
    raise ApiError(f"HTTP {status}: {detail}", status=status, problem=problem,
                   operation=operation)


DEFAULT_TIMEOUT = 15.0  # seconds, every request but a maintenance (which answers when over)


class Client:
    """One method per endpoint of the v1 API. ``timeout`` bounds every request (seconds).

    An ``https://`` service whose certificate comes from a private CA: requests reads the
    CA file from ``$REQUESTS_CA_BUNDLE`` (docs/install.md, the TLS proxy)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, operation: str, **kw: Any) -> Any:
        limit = kw.pop("timeout", self.timeout)  # a maintenance answers when it is over
        try:
            resp = self.session.request(method, self.base_url + path, timeout=limit, **kw)
        except requests.Timeout as exc:
            raise PeerTimeout(f"the service at {self.base_url} did not answer within "
                              f"{limit:g} s", operation=operation) from exc
        except requests.RequestException as exc:
            raise PeerUnreachable(f"cannot reach the service at {self.base_url}: {exc}",
                                  operation=operation) from exc
        if resp.status_code >= 400:
            _raise(resp, operation)
        if resp.headers.get("Content-Type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    def _look_up(self, path: str, key: str | None, by: dict[str, str | None],
                 operation: str) -> Any:
        """``GET path/KEY``, else ``GET path?NAME=VALUE`` with the first of ``by`` given."""
        if key is not None:
            return self._call("GET", f"{path}/{key}", operation)
        query = next(({k: v} for k, v in by.items() if v is not None), None)
        return self._call("GET", path, operation, params=query)

    # -- reading ----------------------------------------------------------------------

    def pairs(self) -> list[PairState]:
        body = self._call("GET", "/api/v1/pairs", "list pairs")
        return decode_many(s.PairStateSchema(), _get(body, "pairs"), "list pairs", PairState)

    def pair(self, pair: str, *, fresh: bool = False) -> PairState:
        body = self._call("GET", f"/api/v1/pairs/{pair}", "read pair",
                          params={"fresh": "1"} if fresh else None)
        return decode(s.PairStateSchema(), body, "read pair", PairState)

    def peer(self, pair: str, peer: str) -> PeerView:
        """One peer read now; PeerUnreachable (502) or PeerTimeout (504) if it cannot be."""
        body = self._call("GET", f"/api/v1/pairs/{pair}/peers/{peer}", "read peer")
        return decode(s.PeerSchema(), body, "read peer", PeerView)

    def history(self, pair: str, *, since: str | None = None, limit: int = 50,
                offset: int = 0) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if since:
            params["since"] = since
        return _object(self._call("GET", f"/api/v1/pairs/{pair}/history", "history",
                                  params=params), "history")

    def lease(self, pair: str, ip: str | None = None, *, mac: str | None = None,
              client_id: str | None = None) -> LeaseView:
        body = self._look_up(f"/api/v1/pairs/{pair}/leases", ip,
                             {"mac": mac, "client_id": client_id}, "look up lease")
        return decode(s.LeaseViewSchema(), body, "look up lease", LeaseView)

    def pools(self, pair: str, *, fresh: bool = False) -> PoolReport:
        body = self._call("GET", f"/api/v1/pairs/{pair}/pools", "pools",
                          params={"fresh": "1"} if fresh else None)
        return decode(s.PoolReportSchema(), body, "pools", PoolReport)

    def audit(self, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        return _object(self._call("GET", "/api/v1/audit", "audit",
                                  params={"limit": limit, "offset": offset}), "audit")

    def healthz(self) -> dict[str, Any]:
        return _object(self._call("GET", "/healthz", "healthz"), "healthz")

    def metrics(self) -> str:
        return str(self._call("GET", "/metrics", "metrics"))

    def openapi(self) -> dict[str, Any]:
        return _object(self._call("GET", "/api/v1/openapi.json", "openapi"), "openapi")

    # -- changing (each needs an operator token and confirms with the pair's name) -----

    def _guarded(self, action: str, pair: str, peer: str, force: bool, reason: str | None,
                 dry_run: bool) -> ActionResult:
        body = self._call("POST", f"/api/v1/pairs/{pair}/peers/{peer}/{action}", action,
                          params={"dry_run": "1"} if dry_run else None,
                          json={"confirm": pair, "force": force, "reason": reason})
        return decode(s.ActionResultSchema(), body, action, ActionResult)

    def partner_down(self, pair: str, peer: str, *, force: bool = False,
                     reason: str | None = None, dry_run: bool = False) -> ActionResult:
        return self._guarded("partner-down", pair, peer, force, reason, dry_run)

    def shutdown(self, pair: str, peer: str, *, force: bool = False, reason: str | None = None,
                 dry_run: bool = False) -> ActionResult:
        return self._guarded("shutdown", pair, peer, force, reason, dry_run)

    def release(self, pair: str, ip: str, *, dry_run: bool = False) -> LeaseView:
        body = self._call("POST", f"/api/v1/pairs/{pair}/leases/{ip}/release", "release",
                          params={"dry_run": "1"} if dry_run else None, json={"confirm": pair})
        return decode(s.LeaseViewSchema(), body, "release", LeaseView)

    # -- host reservations (reads need any token; changes an operator's, confirmed) ----

    def hosts(self, pair: str) -> HostComparison:
        """Every host of both peers' dhcpd.leases, as the service reads them."""
        body = self._call("GET", f"/api/v1/pairs/{pair}/hosts", "list hosts")
        return decode(s.HostListSchema(), body, "list hosts", HostComparison)

    def host(self, pair: str, name: str | None = None, *, mac: str | None = None,
             ip: str | None = None) -> HostView:
        body = self._look_up(f"/api/v1/pairs/{pair}/hosts", name, {"mac": mac, "ip": ip},
                             "look up host")
        return decode(s.HostViewSchema(), body, "look up host", HostView)

    def add_host(self, pair: str, name: str, *, ip: str, mac: str | None = None,
                 client_id: str | None = None, dry_run: bool = False) -> HostView:
        body = self._call("POST", f"/api/v1/pairs/{pair}/hosts", "add host",
                          params={"dry_run": "1"} if dry_run else None,
                          json={"confirm": pair, "name": name, "ip": ip, "mac": mac,
                                "client_id": client_id})
        return decode(s.HostViewSchema(), body, "add host", HostView)

    def delete_host(self, pair: str, name: str, *, dry_run: bool = False) -> HostView:
        body = self._call("DELETE", f"/api/v1/pairs/{pair}/hosts/{name}", "delete host",
                          params={"dry_run": "1"} if dry_run else None, json={"confirm": pair})
        return decode(s.HostViewSchema(), body, "delete host", HostView)

    def sync_host(self, pair: str, name: str, *, dry_run: bool = False) -> HostView:
        body = self._call("POST", f"/api/v1/pairs/{pair}/hosts/{name}/sync", "sync host",
                          params={"dry_run": "1"} if dry_run else None, json={"confirm": pair})
        return decode(s.HostViewSchema(), body, "sync host", HostView)

    # -- planned maintenance -----------------------------------------------------------

    def maintenance(self, pair: str, peer: str, *, reason: str | None = None,
                    dry_run: bool = False, wait: float = 60.0) -> MaintenanceReport:
        """Planned maintenance of ``peer`` (the service answers once it is over)."""
        body = self._call("POST", f"/api/v1/pairs/{pair}/peers/{peer}/maintenance",
                          "maintenance", params={"dry_run": "1"} if dry_run else None,
                          json={"confirm": pair, "reason": reason, "wait": wait},
                          timeout=wait + 60)
        return decode(s.MaintenanceReportSchema(), body, "maintenance", MaintenanceReport)

    def maintenance_phase(self, pair: str, peer: str) -> Observation:
        """Both peers' states read now, on the way back after maintenance."""
        body = self._call("GET", f"/api/v1/pairs/{pair}/peers/{peer}/maintenance",
                          "maintenance end")
        return decode(s.ObservationSchema(), body, "maintenance end", Observation)

    def probe(self, pair: str, peers: list[str], *, timeout: float = 3.0,
              secs: int | None = None, macs: dict[str, str] | None = None) -> PairProbe:
        """A round of DHCP probes of the pair's servers, sent by the service now."""
        request: dict[str, Any] = {"peers": peers, "timeout": timeout}
        if secs is not None:
            request["secs"] = secs
        if macs:
            request["macs"] = macs
        body = self._call("POST", f"/api/v1/pairs/{pair}/probe", "probe", json=request,
                          timeout=timeout + 30)
        return decode(s.PairProbeSchema(), body, "probe", PairProbe)

    def last_probe(self, pair: str) -> PairProbe:
        """The service's last scheduled probe round of the pair."""
        body = self._call("GET", f"/api/v1/pairs/{pair}/probe", "last probe")
        return decode(s.PairProbeSchema(), body, "last probe", PairProbe)

    # -- lease lists and search (appended: omapifo/_leaselist.py) ---------------------------

    def lease_page(self, pair: str, *, subnet: str | None = None, state: str | None = None,
                   hostname: str | None = None, limit: int = 500,
                   cursor: str | None = None) -> LeaseList:
        """One page of the pair's lease list; its ``next_after`` leads to the next
        (:meth:`leases` follows them all)."""
        params = {k: v for k, v in (("subnet", subnet), ("state", state),
                                    ("hostname", hostname), ("limit", limit),
                                    ("cursor", cursor)) if v is not None}
        body = self._call("GET", f"/api/v1/pairs/{pair}/leases", "list leases", params=params)
        return decode(s.LeaseListSchema(), body, "list leases", LeaseList)

    def leases(self, pair: str, *, subnet: str | None = None, state: str | None = None,
               hostname: str | None = None, limit: int = 5000) -> LeaseList:
        """The whole list, page after page (``limit`` rows a request)."""
        page = self.lease_page(pair, subnet=subnet, state=state, hostname=hostname,
                               limit=limit)
        rows, errors = list(page.leases), dict(page.errors)
        while page.next_after is not None:
            page = self.lease_page(pair, subnet=subnet, state=state, hostname=hostname,
                                   limit=limit, cursor=s.encode_cursor(page.next_after))
            rows += page.leases
            errors.update(page.errors)
        return LeaseList(page.pair, tuple(rows), page.scanned_at, page.source, page.duration,
                         errors)

    def find_leases(self, query: str) -> LeaseSearch:
        body = self._call("GET", "/api/v1/leases", "find lease", params={"q": query})
        return decode(s.LeaseSearchSchema(), body, "find lease", LeaseSearch)
