"""The REST service fuzzed from its own OpenAPI document (schemathesis), against the lab.

Generated: for each of the document's 20 operations, 100 cases in schemathesis' positive
mode (valid by the document) and 100 in its negative mode (each breaks the document
somewhere: a pair that is not configured, a role or an address that is not one, a query
parameter of the wrong type or one the endpoint does not take, a body of the wrong shape,
a bad or missing Authorization header). The document names the configured pairs, the
two roles and ``format: ipv4`` (``api/app.py:_document_path_parameters``), so positive
cases name a real pair and get past the 404. Positive cases are steered further by the test: half of
the POSTs confirm their pair, and half of the addresses are taken from the lab's pools
(random IPv4 addresses are outside them and refused before any OMAPI).

Asserted, per response: never a 500; a status the document gives for the operation
(explicitly or by its ``default``); a documented content type and a body valid against
its schema; a negative case as generated is not answered 2xx (``negative_data_rejection``).
Per operation: some cases reached its handler (see :class:`Spy`). After the run: both lab
servers still normal, and no audit record of anything sent.

Left out, and why: schemathesis' "positive data is accepted" check (the document cannot
say that ``confirm`` must be the pair's name, nor that a lease search takes exactly one of
``mac`` and ``client_id``: such valid-looking cases get the documented 400); stateful link
testing (the API creates nothing a later call could use); schemathesis' pytest plugin (it
does not load under pytest 9 here: 'Function' object has no attribute '_nodeid'), so the
test drives its Hypothesis strategies directly. No Hypothesis health check is suppressed:
none fires. Bounded: each example has a deadline and the fuzz a pytest timeout; it takes
about 15 s here.

Safety (the lab is shared by the whole session): partner-down, shutdown and release act
only when the body's ``confirm`` is the pair's name. A case whose body confirms a
configured pair (the steered positive ones; a negative one by chance) is sent with
``?dry_run=true`` unless it already asks for one, so the guards and the dry runs run for
real and nothing is sent. Behind that, the service's pairs refuse any mutating call that
is not a dry run (:func:`dry_runs_only`): a case that slipped through is a 500 and a
failed test, never a changed lab. So shutdown is fuzzed too.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask, request
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               negative_data_rejection,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)
from werkzeug.exceptions import HTTPException

from omapifo import FailoverPair, FailoverState, load_config
from omapifo.api import create_app, views

from .conftest import OPERATOR, auth, offline_config

EXAMPLES = 100  # per operation and mode: 20 operations x 2 modes x 100 cases
DEADLINE = timedelta(seconds=10)  # above a peer's 3 s OMAPI timeout, twice (both peers)
MUTATING = ("partner_down", "shutdown", "release", "add_host", "delete_host", "sync_host",
            "maintenance")
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def openapi_path(rule: str) -> str:
    """A Flask rule as the OpenAPI document writes it: <string:pair> -> {pair}."""
    return rule.replace("<string:", "{").replace("<", "{").replace(">", "}")


class Spy:
    """Which generated requests reached their handler.

    A request reached its handler when the view's own code ran with a configured pair:
    the view called ``views._service()`` (every view does, once flask-smorest has parsed
    and validated its query and body and before it does anything else) and, for an
    operation on a pair, ``views._pair()`` did not turn it away as an unknown pair (404).
    So a 401/403, a 404 or 405 for an unknown route, a 413, and a 422 from the strict
    query parsing or a schema do not count; the handler's own 400s (role, confirm, a bad
    address), a 404 for a lease dhcpd does not have, a 409 from a guard and every 2xx do.
    The cached fast path of ``GET /pairs/{pair}`` (api/app.py, ``_CachedState``) answers
    before Flask: its responses are checked like every other but do not count.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered: set[str] = set()
        self.turned_away: set[str] = set()
        service, pair = views._service, views._pair

        def spy_service() -> Any:
            self.entered.add(str(request.endpoint))
            return service()

        def spy_pair(name: str) -> FailoverPair:
            try:
                return pair(name)
            except HTTPException:
                self.turned_away.add(str(request.endpoint))
                raise

        # the views look both up as module globals at call time, so this reaches them
        monkeypatch.setattr(views, "_service", spy_service)
        monkeypatch.setattr(views, "_pair", spy_pair)

    def reset(self) -> None:
        self.entered.clear()
        self.turned_away.clear()

    def reached(self, endpoint: str) -> bool:
        return endpoint in self.entered and endpoint not in self.turned_away


def dry_runs_only(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the service's pairs refuse partner-down, shutdown and release unless it is a
    dry run; returns the list of refused calls (it must stay empty). The refusal raises
    an error no handler maps, so such a case is also a 500."""
    refused: list[str] = []

    def guard(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("dry_run") is not True:
                refused.append(f"{name}{args}{kwargs}")
                raise RuntimeError(f"fuzz safety: {name} without dry_run refused")
            return real(*args, **kwargs)
        return guarded

    for fp in app.extensions["omapifo"].pairs.values():
        for name in MUTATING:
            monkeypatch.setattr(fp, name, guard(name, getattr(fp, name)))
    return refused


def as_query_text(value: Any) -> str:
    """How a generated query value is sent (schemathesis writes booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def lab_addresses(app: Flask) -> list[str]:
    """A few addresses of every range of the service's pairs (the lab's pools): random
    IPv4 addresses are outside them, and the library refuses those before any OMAPI."""
    out: set[str] = set()
    for fp in app.extensions["omapifo"].pairs.values():
        for rng in fp.dhcpd_conf().ranges:
            out.update(str(ip) for ip, _ in zip(rng.addresses(), range(4), strict=False))
            out.add(str(rng.last))
    return sorted(out)


def steer(case: Any, pair_names: set[str], confirm: bool, ip: str | None) -> bool:
    """Point a generated case deeper, then keep it safe; True if the case was changed (it
    is then no longer the generated one: no negative-data check).

    ``ip``: put one of the pools' addresses in the path (a lease dhcpd knows). ``confirm``:
    a POST whose body is an object confirms its own pair. Then any POST whose body
    confirms a configured pair, by this or by chance, is made a dry run."""
    changed = False
    if ip is not None and "ip" in (case.path_parameters or {}):
        case.path_parameters = {**case.path_parameters, "ip": ip}
        changed = True
    body = case.body
    if case.method.upper() not in ("POST", "DELETE") or not isinstance(body, dict):
        return changed
    if confirm and body.get("confirm") != case.path_parameters.get("pair"):
        case.body = body = {**body, "confirm": case.path_parameters.get("pair")}
        changed = True
    if any(body.get("confirm") == name for name in pair_names):  # any JSON value
        query = dict(case.query or {})
        if as_query_text(query.get("dry_run")) not in ("true", "1"):
            query["dry_run"] = "true"
            case.query = query
            changed = True
    return changed


def test_document_names_pairs_roles_and_ipv4(tmp_path: Path) -> None:
    """The path parameters the fuzz relies on, without the lab."""
    app = create_app(offline_config(tmp_path / "db.sqlite3"), poll=False)
    try:
        spec = app.test_client().get("/api/v1/openapi.json").get_json()
    finally:
        app.extensions["omapifo"].close()
    params = {(path, p["name"]): p["schema"] for path, ops in spec["paths"].items()
              for p in ops.get("parameters", []) if p["in"] == "path"}
    assert params[("/api/v1/pairs/{pair}", "pair")] == {"type": "string", "enum": ["p"]}
    assert params[("/api/v1/pairs/{pair}/peers/{role}", "role")]["enum"] == [
        "primary", "secondary"]
    assert params[("/api/v1/pairs/{pair}/leases/{ip}", "ip")]["format"] == "ipv4"
    assert {name for _, name in params} == {"pair", "role", "ip", "name"}


def credentials(case: Any) -> dict[str, str]:
    """Our operator token for the case, except when it was generated negative in its
    headers: the document's only header is the bearer token, so that case is sent with
    its own bad or missing Authorization (a 401 to check). Adding our token would make it
    a valid request that schemathesis then expects to be refused."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return {}
    return auth(OPERATOR)


class Fuzz:
    """One service on the lab, fuzzed operation by operation; keeps the tallies."""

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        self.app = app
        self.spy = Spy(monkeypatch)
        self.refused = dry_runs_only(app, monkeypatch)
        self.pair_names = set(app.extensions["omapifo"].pairs)
        # positive cases: half confirm, and half of those with an address take the pools'
        self.steering = {
            GenerationMode.POSITIVE: (st.booleans(),
                                      st.sampled_from(lab_addresses(app)) | st.none()),
            GenerationMode.NEGATIVE: (st.just(False), st.none())}
        self.endpoints = {openapi_path(r.rule): r.endpoint for r in app.url_map.iter_rules()}
        self.reached: Counter[tuple[str, str]] = Counter()
        self.statuses: Counter[tuple[str, str, int]] = Counter()

    def operation(self, op: Any, mode: GenerationMode) -> None:
        label, endpoint = f"{op.method.upper()} {op.path}", self.endpoints[op.path]
        confirms, addresses = self.steering[mode]

        @settings(max_examples=EXAMPLES, deadline=DEADLINE, database=None)
        @given(case=op.as_strategy(generation_mode=mode), confirm=confirms, ip=addresses)
        def run(case: Any, confirm: bool, ip: str | None) -> None:
            changed = steer(case, self.pair_names, confirm, ip)
            self.spy.reset()
            response = case.call(headers=credentials(case))
            self.statuses[(label, mode.value, response.status_code)] += 1
            assert response.status_code != 500, (case.as_curl_command(), response.text)
            if self.spy.reached(endpoint):
                self.reached[(label, mode.value)] += 1
            checks = CHECKS if changed else [*CHECKS, negative_data_rejection]
            case.validate_response(response, checks=checks)

        run()

    def table(self, labels: list[str]) -> str:
        return "\n".join(
            f"{label}: reached {self.reached[(label, 'positive')]} positive, "
            f"{self.reached[(label, 'negative')]} negative; statuses "
            + ", ".join(f"{mode[:3]} {status} x{n}" for (lb, mode, status), n
                        in sorted(self.statuses.items()) if lb == label) for label in labels)


@pytest.mark.integration
@pytest.mark.timeout(120, func_only=True)  # the fuzz itself; the shared lab starts before
def test_no_500_and_every_response_matches_the_document(lab, service_cfg, monkeypatch):
    app = create_app(load_config(service_cfg), poll=False)
    fuzz = Fuzz(app, monkeypatch)
    started = time.monotonic()
    try:
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        labels = [f"{op.method.upper()} {op.path}" for op in operations]
        assert len(labels) == 20, labels  # every operation of the document
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz.operation(op, mode)
        assert not fuzz.refused, fuzz.refused
        table = fuzz.table(labels)
        print(f"fuzzed in {time.monotonic() - started:.1f} s\n{table}")
        missed = [label for label in labels
                  if not fuzz.reached[(label, "positive")] + fuzz.reached[(label, "negative")]]
        assert not missed, f"no case reached the handler of {missed}:\n{table}"
        rows, _ = app.extensions["omapifo"].store.audit(limit=10**6)
        sent = [row for row in rows if row.outcome in ("done", "unknown")]
        assert not sent, sent  # ("failed" is dhcpd having no such lease: nothing was sent)
    finally:
        app.extensions["omapifo"].close()
    with FailoverPair(lab.pair_config()) as fp:
        state = fp.state()
    assert (state.primary.local_state, state.secondary.local_state) == (
        FailoverState.NORMAL, FailoverState.NORMAL), state
