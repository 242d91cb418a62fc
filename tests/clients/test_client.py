"""The REST client: every method and every error shape, with requests-mock; once end to end."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
import requests_mock as requests_mock_module

from omapifo import (FailoverState, LeaseState, NotFound, OperationRefused, PartnerDownRefused,
                     PeerTimeout, PeerUnreachable, ProtocolError, ReleaseRefused, Role,
                     UnknownPair, load_config, parse_dhcpd_conf)
from flask import Flask

from omapifo import _errors as omapifo_errors
from omapifo.api import problems
from omapifo.api import schemas as s
from omapifo.clients import servecli
from omapifo.clients.client import ApiAuthError, ApiError, BadRequest, Client

from ..api.conftest import OPERATOR, READER, service_config
from .samples import action_result, dumped, lease_view, pair_state, pool_report

URL = "http://omapifo.test"
P = "classroom-1-6"
STATE = dumped(pair_state, s.PairStateSchema)
PEER = dumped(lambda: pair_state().primary, s.PeerSchema)
LEASE = dumped(lease_view, s.LeaseViewSchema)
ACTION = dumped(action_result, s.ActionResultSchema)
POOLS = dumped(pool_report, s.PoolReportSchema)
PAGE = {"total": 0, "limit": 5, "offset": 0}

# (call, method, path, query, request body, response body, what the method returns)
CASES = [
    (lambda c: c.pairs(), "GET", "/api/v1/pairs", "", None, {"pairs": [STATE]},
     [pair_state()]),
    (lambda c: c.pair(P), "GET", f"/api/v1/pairs/{P}", "", None, STATE, pair_state()),
    (lambda c: c.pair(P, fresh=True), "GET", f"/api/v1/pairs/{P}", "fresh=1", None, STATE,
     pair_state()),
    (lambda c: c.peer(P, "primary"), "GET", f"/api/v1/pairs/{P}/peers/primary", "", None, PEER,
     pair_state().primary),
    (lambda c: c.history(P, since="2026-01-01T00:00:00+00:00", limit=5), "GET",
     f"/api/v1/pairs/{P}/history", "limit=5&offset=0&since=2026-01-01t00%3a00%3a00%2b00%3a00",
     None, PAGE, PAGE),
    (lambda c: c.lease(P, "198.18.11.47"), "GET", f"/api/v1/pairs/{P}/leases/198.18.11.47", "",
     None, LEASE, lease_view()),
    (lambda c: c.lease(P, mac="02:00:00:00:00:01"), "GET", f"/api/v1/pairs/{P}/leases",
     "mac=02%3a00%3a00%3a00%3a00%3a01", None, LEASE, lease_view()),
    (lambda c: c.lease(P, client_id="01:02"), "GET", f"/api/v1/pairs/{P}/leases",
     "client_id=01%3a02", None, LEASE, lease_view()),
    (lambda c: c.pools(P, fresh=True), "GET", f"/api/v1/pairs/{P}/pools", "fresh=1", None,
     POOLS, pool_report()),
    (lambda c: c.audit(limit=3), "GET", "/api/v1/audit", "limit=3&offset=0", None, PAGE,
     PAGE),
    (lambda c: c.healthz(), "GET", "/healthz", "", None, {"status": "ok"}, {"status": "ok"}),
    (lambda c: c.openapi(), "GET", "/api/v1/openapi.json", "", None, {"openapi": "3.0.3"},
     {"openapi": "3.0.3"}),
    (lambda c: c.partner_down(P, "secondary", force=True, reason="r", dry_run=True), "POST",
     f"/api/v1/pairs/{P}/peers/secondary/partner-down", "dry_run=1",
     {"confirm": P, "force": True, "reason": "r"}, ACTION, action_result()),
    (lambda c: c.shutdown(P, "primary"), "POST", f"/api/v1/pairs/{P}/peers/primary/shutdown", "",
     {"confirm": P, "force": False, "reason": None}, ACTION, action_result()),
    (lambda c: c.release(P, "198.18.11.47"), "POST",
     f"/api/v1/pairs/{P}/leases/198.18.11.47/release", "", {"confirm": P}, LEASE, lease_view()),
]


@pytest.mark.parametrize("call,method,path,query,body,answer,expected", CASES,
                         ids=[c[2] + "?" + c[3] for c in CASES])
def test_every_method_calls_its_endpoint_and_returns_library_objects(
        requests_mock, call, method, path, query, body, answer, expected):
    requests_mock.request(method, URL + path, json=answer,
                          headers={"Content-Type": "application/json"})
    result = call(Client(URL, "tok"))
    req = requests_mock.last_request
    assert req.headers["Authorization"] == "Bearer tok"
    assert req.query == query  # requests-mock lower-cases it
    if body is not None:
        assert req.json() == body
    assert type(result) is type(expected)
    if isinstance(expected, dict):
        assert result == expected
    else:  # the service does not send hierarchy, skew and ports: compare what it sends
        schema = SCHEMA[type(expected[0] if isinstance(expected, list) else expected).__name__]
        assert schema(many=isinstance(expected, list)).dump(result) == \
            schema(many=isinstance(expected, list)).dump(expected)


SCHEMA = {"PairState": s.PairStateSchema, "PeerView": s.PeerSchema,
          "LeaseView": s.LeaseViewSchema, "ActionResult": s.ActionResultSchema,
          "PoolReport": s.PoolReportSchema}


def test_a_body_from_something_else_is_a_protocol_error(requests_mock):
    requests_mock.get(URL + f"/api/v1/pairs/{P}", json={"ok": True},
                      headers={"Content-Type": "application/json"})
    with pytest.raises(ProtocolError, match="not an omapifo v1 body"):
        Client(URL).pair(P)


def test_metrics_is_text(requests_mock):
    requests_mock.get(URL + "/metrics", text="# HELP x\n", headers={"Content-Type": "text/plain"})
    assert Client(URL).metrics().startswith("# HELP")


def problem(status: int, detail: str) -> dict:
    return {"status_code": status, "json": {"type": "about:blank", "title": "t",
                                            "status": status, "detail": detail},
            "headers": {"Content-Type": "application/problem+json"}}


@pytest.mark.parametrize("status,call,error", [
    (409, lambda c: c.partner_down(P, "secondary"), PartnerDownRefused),
    (409, lambda c: c.release(P, "198.18.11.40"), ReleaseRefused),
    (409, lambda c: c.shutdown(P, "primary"), OperationRefused),
    (404, lambda c: c.pair("x"), NotFound),
    (401, lambda c: c.pair(P), ApiAuthError),
    (403, lambda c: c.audit(), ApiAuthError),
    (400, lambda c: c.lease(P, "x"), BadRequest),
    (422, lambda c: c.history(P), BadRequest),
    (502, lambda c: c.peer(P, "secondary"), PeerUnreachable),
    (504, lambda c: c.peer(P, "secondary"), PeerTimeout),
    (500, lambda c: c.pairs(), ApiError),
])
def test_problem_json_becomes_a_typed_exception(requests_mock, status, call, error):
    requests_mock.register_uri(requests_mock_module.ANY, re.compile(".*"),
                               **problem(status, "why"))
    with pytest.raises(error, match="why"):
        call(Client(URL))


ERROR_CLASSES = sorted((c for c in vars(omapifo_errors).values() if isinstance(c, type)
                        and issubclass(c, omapifo_errors.OmapifoError)), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_library_error_survives_http_as_the_same_class(requests_mock, cls):
    """The service answers an omapifo error with its own problem type; the client raises
    that class again, with the library's message, peer and operation."""
    with Flask(__name__).app_context():
        resp = problems.from_omapifo_error(cls("the reason", peer="secondary",
                                               operation="partner-down"))
    body = json.loads(resp.get_data())
    assert body["type"] == cls.problem_type() != "about:blank"
    requests_mock.register_uri(requests_mock_module.ANY, re.compile(".*"),
                               status_code=resp.status_code, json=body,
                               headers={"Content-Type": "application/problem+json"})
    with pytest.raises(cls) as raised:
        Client(URL).partner_down(P, "secondary")
    assert type(raised.value) is cls
    assert (raised.value.message, raised.value.peer, raised.value.operation) == (
        "the reason", "secondary", "partner-down")


def test_problem_types_are_distinct_and_stable():
    types = [c.problem_type() for c in ERROR_CLASSES]
    assert len(set(types)) == len(types)
    assert omapifo_errors.PartnerDownRefused.problem_type() == \
        "urn:omapifo:problem:partner-down-refused"  # documented in docs/rest.md


def test_docs_list_every_problem_type():
    text = (Path(__file__).resolve().parents[2] / "docs" / "rest.md").read_text()
    missing = [c.problem_type() for c in ERROR_CLASSES if f"`{c.problem_type()}`" not in text]
    assert not missing


def test_transport_errors(requests_mock):
    requests_mock.get(URL + "/healthz", exc=requests.ConnectTimeout)
    with pytest.raises(PeerTimeout):
        Client(URL).healthz()
    requests_mock.get(URL + "/healthz", exc=requests.ConnectionError("refused"))
    with pytest.raises(PeerUnreachable, match="cannot reach"):
        Client(URL).healthz()


@pytest.mark.integration
def test_end_to_end_against_the_running_service(healthy_lab, tmp_path):
    cfg = service_config(healthy_lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    url, serve, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(serve)
    try:
        reader, operator = Client(url, READER), Client(url, OPERATOR)
        assert reader.healthz()["status"] == "ok"
        st = reader.pair(P, fresh=True)
        assert str(st.health.level) == "ok" and st.primary.local_state is FailoverState.NORMAL
        assert reader.peer(P, "secondary").local_state is FailoverState.NORMAL
        with pytest.raises(ApiAuthError):
            reader.partner_down(P, "secondary")
        with pytest.raises(PartnerDownRefused, match="not communications-interrupted"):
            operator.partner_down(P, "secondary")
        assert operator.audit()["entries"][0]["outcome"] == "refused"
        with pytest.raises(UnknownPair, match="no pair named 'nope'"):
            reader.pair("nope")
        # a real lease through the service: by address and by MAC, then released
        mac = "02:00:00:dd:00:03"
        ip = healthy_lab.client(3, mac=mac)
        lease = reader.lease(P, ip)
        assert lease.state is LeaseState.ACTIVE and lease.agree, lease.differences
        assert reader.lease(P, mac=mac).ip == lease.ip
        released = operator.release(P, ip)
        assert LeaseState.ACTIVE not in (released.primary.state, released.secondary.state)
        report = reader.pools(P, fresh=True)
        assert report.complete and report.source == "omapi"
        pools = parse_dhcpd_conf(healthy_lab.conf_path(Role.PRIMARY)).pools
        assert sum(p.total for p in report.pools) == sum(p.size for p in pools)
        assert reader.history(P)["pair"] == P
    finally:
        stop()
