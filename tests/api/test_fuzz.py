"""The REST service fuzzed from its own OpenAPI document (schemathesis), against the lab.

Generated: for each of the document's 20 operations, up to 100 cases in schemathesis'
positive mode (valid by the document) and up to 100 in its negative mode (each breaks the
document somewhere: a pair that is not configured, a role or an address that is not one, a
query parameter of the wrong type or one the endpoint does not take, a body of the wrong
shape, a bad or missing Authorization header); the number really run is printed. The
document names the configured pairs, the two roles and ``format: ipv4``
(``api/app.py:_document_path_parameters``), so positive cases name a real pair and get
past the 404. Positive cases are steered further by the test (:func:`steer`): three in
four POSTs and DELETEs confirm their pair; half the ``GET /pairs/{pair}`` ask ``?fresh=``;
addresses are often the lab's pools', and for a release often an active lease bound just
before (:class:`Targets`); host names often a host the lab holds on both peers or on the
primary alone (made for the fuzz, removed after); a new host's fields often a valid name,
MAC and an address outside every range.

Asserted, per response: never a 500; a status the document lists for the operation (it
has no catch-all ``default`` response: ``_ProblemApi.DEFAULT_ERROR_RESPONSE_NAME`` is
None, so schemathesis' status check checks too); a documented content type and a body
valid against its schema; a negative case as generated is not answered 2xx
(``negative_data_rejection``).

Counted, below the views (:class:`Library`): for each mutating operation, how each call
into the library's guarded method ended, read from the outcome the library closed its
audited attempt with: its dry-run path (``dry-run``), its guard's refusal, a no-op, a
failure with nothing sent, or bad input refused before any attempt. For each read, the
cases that entered a pair's read method, the poller or the store. Required per operation
(:meth:`Fuzz.short`): at least MIN_GUARDED calls that reached the dry-run path (for
partner-down the guard's refusal: in the healthy lab no peer is
communications-interrupted, so its dry-run path cannot be reached here), and per read at least
MIN_HANDLED handled cases. Measured on the 2-core machine the suite runs on, in two runs:
of 100 positive cases per mutating operation, dry runs 56 to 93 (the fewest: add host 56,
sync 62), partner-down refused 92 and 93; handled reads 46 and 49 for GET /pairs/{pair}
(half its positive cases ask ``?fresh=``; without a query the cached fast path answers
before Flask, and is not counted), 70 or more for every other read. The minimums are about
half of the lowest. After the run: both lab servers still normal, and no audit record of
anything sent.

Left out, and why: schemathesis' "positive data is accepted" check (the document cannot
say that ``confirm`` must be the pair's name, nor that a lease search takes exactly one of
``mac`` and ``client_id``: such valid-looking cases get the documented 400); stateful link
testing (the API creates nothing a later call could use); schemathesis' pytest plugin (it
does not load under pytest 9 here: 'Function' object has no attribute '_nodeid'), so the
test drives its Hypothesis strategies directly. No Hypothesis health check is suppressed:
none fires. Bounded: each example has a deadline and the fuzz a pytest timeout; it takes
about 50 to 60 s here.

Safety (the lab is shared by the whole session): every change acts only when the body's
``confirm`` is the pair's name. A case whose body confirms a configured pair (the steered
positive ones; a negative one by chance) is sent with ``?dry_run=true`` unless it already
asks for one, so the guards and the dry runs run for real and nothing is sent. Behind
that, the service's pairs refuse any mutating call that is not a dry run (a 500, never a
changed lab), and the test fails on any attempt that ended as if something was sent
(:class:`Library`, ``unsafe``). So shutdown and maintenance are fuzzed too.
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
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               negative_data_rejection,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from omapifo.lab import Lab
from omapifo import FailoverPair, FailoverState, NotFound, load_config
from omapifo.api import create_app
from omapifo._audit import JsonLinesAudit, Outcome
from omapifo._hosts import Host
from omapifo._omapi import OmapiPeer, host_lookup
from omapifo._states import Role

from .conftest import OPERATOR, auth, offline_config

EXAMPLES = 100  # per operation and mode: 22 operations x 2 modes x 100 cases
DEADLINE = timedelta(seconds=10)  # above a peer's 3 s OMAPI timeout, twice (both peers)
MUTATING = ("partner_down", "shutdown", "release", "add_host", "delete_host", "sync_host",
            "maintenance")
READS = ("state", "lease", "leases", "pools", "host", "hosts", "probe")  # as views call them
POLLER = ("get", "pools", "lease_list", "find", "last_probe")  # as views call them
# POSTs that change nothing (a probe sends a DISCOVER, never a REQUEST): counted as reads
READ_POSTS = {"POST /api/v1/pairs/{pair}/probe"}
STORE = ("transitions", "pool_history", "audit")  # the store's, as views call them
KINDS = ("dry-run", "refused", "no-op", "failed", "bad input")  # nothing sent (Library)
# Per mutating operation, this many cases must end in the library as EXPECTED (default its
# dry-run path); per read, this many must get below the handler (Library). Below half of
# what was measured (the module docstring), so not flaky, far above what a skipped path
# leaves (0).
MIN_GUARDED = 25
MIN_HANDLED = 25
# In the healthy lab both peers are normal, so partner-down's guard always refuses (the
# peer is not communications-interrupted): its dry-run path needs a broken lab
# (tests/api/test_actions.py). Here the guard's refusals are what is counted.
EXPECTED = {"POST /api/v1/pairs/{pair}/peers/{role}/partner-down": "refused"}
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def openapi_path(rule: str) -> str:
    """A Flask rule as the OpenAPI document writes it: <string:pair> -> {pair}."""
    return rule.replace("<string:", "{").replace("<", "{").replace(">", "}")


class _Outcomes:
    """A pair's audit sink that also notes how each attempt ended: the library closes
    every attempt with its outcome (``dry-run`` only on its dry-run path, ``refused`` for
    a guard's no, ``no-op``, ``failed`` when nothing could be sent)."""

    def __init__(self, sink: Any, seen: list[Outcome]) -> None:
        self.sink, self.seen = sink, seen

    def begin(self, record: Any) -> str:
        return str(self.sink.begin(record))

    def finish(self, record_id: str, outcome: Outcome, detail: str) -> None:
        self.seen.append(outcome)
        self.sink.finish(record_id, outcome, detail)


class Library:
    """What the layer under the views saw, per operation of the document.

    Each of the service's pairs has its mutating methods (MUTATING) and its read methods
    (READS) wrapped, its audit sink too (:class:`_Outcomes`), and the service's poller and
    store have the methods the views call wrapped (BACKENDS). ``operation`` is the case
    being sent (cases are sent one at a time; a read the poller runs on its thread for
    the case counts for it too).

    A mutating call is refused unless it is a dry run (``unsafe``; it raises an error no
    handler maps: a 500). Otherwise it is tallied in ``changes`` by what the library did,
    read from the outcome its attempt was closed with: ``dry-run`` (the guard said yes
    and the dry-run path answered), ``refused`` (a guard said no), ``no-op``, ``failed``
    (nothing could be sent, e.g. no such host), or ``bad input`` (refused before any
    attempt: a ValueError). A case is ``handled`` when it entered a pair's read method,
    the poller or the store: its handler got past every check of its own. The views' own
    code is not looked at: a 404 for an unknown pair, a 400 for a bad confirm or a 409
    before the library counts nowhere. The cached fast path of ``GET /pairs/{pair}``
    (api/app.py, ``_CachedState``) answers before Flask: checked like every other
    response, never counted.
    """

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        self.operation: str | None = None
        self.changes: Counter[tuple[str, str, str]] = Counter()  # (operation, method, kind)
        self.reads: Counter[str] = Counter()  # calls into a pair's read methods
        self.handled: Counter[str] = Counter()  # cases that got below their handler
        self.unsafe: list[str] = []
        self._touched = False
        self._depth = 0  # a library call's own calls (a change reads the state) are its own
        self._outcomes: list[Outcome] = []
        service = app.extensions["omapifo"]
        for fp in service.pairs.values():
            monkeypatch.setattr(fp, "audit_sink", _Outcomes(fp.audit_sink, self._outcomes))
            for name in MUTATING:
                monkeypatch.setattr(fp, name, self._change(name, getattr(fp, name)))
            for name in READS:
                monkeypatch.setattr(fp, name, self._read(name, getattr(fp, name)))
        for obj, names in ((service.poller, POLLER), (service.store, STORE)):
            for name in names:
                monkeypatch.setattr(obj, name, self._backend(getattr(obj, name)))

    def start(self, operation: str) -> None:
        """A case of ``operation`` is about to be sent."""
        self.operation, self._touched = operation, False

    def end(self) -> None:
        if self._touched and self.operation is not None:
            self.handled[self.operation] += 1
        self.operation = None

    def _backend(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def entered(*args: Any, **kwargs: Any) -> Any:
            self._touched = True
            return real(*args, **kwargs)
        return entered

    def _read(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def read(*args: Any, **kwargs: Any) -> Any:
            if self._depth == 0 and self.operation is not None:
                self._touched = True
                self.reads[self.operation] += 1
            self._depth += 1
            try:
                return real(*args, **kwargs)
            finally:
                self._depth -= 1
        return read

    def _change(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def change(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("dry_run") is not True:
                self.unsafe.append(f"{self.operation}: {name}{args}{kwargs}")
                raise RuntimeError(f"fuzz safety: {name} without dry_run refused")
            self._touched = True
            del self._outcomes[:]
            self._depth += 1
            try:
                return real(*args, **kwargs)
            finally:
                self._depth -= 1
                kind = str(self._outcomes[-1]) if self._outcomes else "bad input"
                if kind not in KINDS:  # done, unknown, partial: something was sent
                    self.unsafe.append(f"{self.operation}: {name} ended {kind}")
                self.changes[(str(self.operation), name, kind)] += 1
        return change

    def kinds(self, operation: str) -> Counter[str]:
        """What the library did for ``operation``'s cases, by kind."""
        out: Counter[str] = Counter()
        for (op, _, kind), n in self.changes.items():
            if op == operation:
                out[kind] += n
        return out

    def methods(self, operation: str) -> set[str]:
        return {name for (op, name, _) in self.changes if op == operation}


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


def reservable(app: Flask) -> list[str]:
    """A few addresses of every subnet with a pool that no range holds: where a host may
    be reserved (inside a range, or outside every subnet, the guard refuses). From .24,
    clear of the addresses the host tests reserve (.10 to .22)."""
    out = []
    for fp in app.extensions["omapifo"].pairs.values():
        conf = fp.dhcpd_conf()
        for subnet in conf.subnets:
            if subnet.pools or subnet.ranges:
                out += [str(ip) for ip in (subnet.network.network_address + n
                                           for n in range(24, 28))
                        if not any(ip in rng for rng in conf.ranges)]
    return sorted(out)


class Targets:
    """What the lab holds for the fuzz to act on, made for it and removed after: a host
    on both peers (a delete's dry run), a host on the primary alone (a sync's), and an
    active lease (a release's: :meth:`bind`, just before release is fuzzed, since a first
    lease lasts only the MCLT, 15 s in the lab). Made through the library with an audit
    log of their own, so the service's trail stays empty."""

    BOTH, ONE = "fz-both", "fz-one"

    def __init__(self, lab: Lab, audit: Path, reserve: list[str]) -> None:
        self.lab, self.lease = lab, ""
        with FailoverPair(lab.pair_config(), audit=JsonLinesAudit(audit)) as fp:
            self.remove()
            fp.add_host(self.BOTH, ip=reserve[0], mac="02:00:00:f2:00:01")
            host = Host.make(self.ONE, ip=reserve[1], mac="02:00:00:f2:00:02")
            fp.peer(Role.PRIMARY).create("host", host.omapi_attrs(), operation="fuzz target")

    def bind(self) -> None:
        self.lease = self.lab.client(4, mac="02:00:00:f2:00:04")

    def remove(self) -> None:
        cfg = self.lab.pair_config()
        for ep in (cfg.primary, cfg.secondary):
            with OmapiPeer(ep.host, ep.port, cfg.key) as peer:
                for name in (self.BOTH, self.ONE):
                    try:
                        peer.delete("host", host_lookup(name).attrs)
                    except NotFound:
                        pass


def steer(case: Any, pair_names: set[str], confirm: bool, ip: str | None,
          name: str | None, host: dict[str, str] | None,
          query: dict[str, Any] | None = None) -> bool:
    """Point a generated case deeper, then keep it safe; True if the case was changed (it
    is then no longer the generated one: no negative-data check).

    ``ip``: put this address in the path (a lease dhcpd knows). ``name``: this host name
    in the path (a host the lab has). ``host``: these fields in a body that names a host
    (an add the guard may let through). ``confirm``: a POST or DELETE whose body is an
    object confirms its own pair. ``query``: these query parameters too. Then any such
    body that confirms a configured pair, by this or by chance, is made a dry run."""
    changed = False
    if query is not None:
        case.query = {**(case.query or {}), **query}
        changed = True
    params = case.path_parameters or {}
    if ip is not None and "ip" in params:
        case.path_parameters = params = {**params, "ip": ip}
        changed = True
    if name is not None and "name" in params:
        case.path_parameters = params = {**params, "name": name}
        changed = True
    body = case.body
    if case.method.upper() not in ("POST", "DELETE") or not isinstance(body, dict):
        return changed
    if confirm and case.path.endswith("/probe"):
        # a probe's body is rarely generated valid (a dict of probe MACs by role): the
        # default round instead, so that cases reach the library (ConfigError: the fuzz
        # lab's pair has no probe_giaddr, said before any traffic)
        case.body = {}
        return True
    if host is not None and "name" in body and "ip" in body:
        # a generated client_id next to the MAC would be refused as bad input first
        case.body = body = {**{k: v for k, v in body.items() if k != "client_id"}, **host}
        changed = True
    if confirm and body.get("confirm") != params.get("pair"):
        case.body = body = {**body, "confirm": params.get("pair")}
        changed = True
    if any(body.get("confirm") == pair for pair in pair_names):  # any JSON value
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


def often(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``strategy`` three times in four, else None (the generated value stays). Not
    ``strategy | st.none()``: how often Hypothesis takes each side of that varied from
    run to run (one run steered half as many host bodies as the next)."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda take: strategy if take else st.none())


class Fuzz:
    """One service on the lab, fuzzed operation by operation; keeps the tallies."""

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch, targets: Targets,
                 spec: dict[str, Any]) -> None:
        self.app = app
        self.library = Library(app, monkeypatch)
        self.targets = targets
        self.spec = spec
        self.pair_names = set(app.extensions["omapifo"].pairs)
        self.addresses = lab_addresses(app)
        reserve = reservable(app)
        # positive cases: three in four confirm; an address, a host name or a host's
        # fields are three times in four the lab's (its pools, its hosts, a reservable
        # address), and then often the one the operation needs to reach its dry run (a
        # host on the primary alone for a sync, on both for a delete, the active lease for
        # a release)
        self.hosts = st.fixed_dictionaries({  # a name taken by another host: refused
            "name": st.sampled_from(["fz-new", "fz-new", "fz-new", Targets.BOTH]),
            "ip": st.sampled_from(reserve[2:]), "mac": st.just("02:00:00:f2:00:03")})
        self.names = st.sampled_from([Targets.BOTH, Targets.ONE])
        self.cases = 0
        self.statuses: Counter[tuple[str, str, int]] = Counter()

    def operation(self, op: Any, mode: GenerationMode) -> None:
        label, method = f"{op.method.upper()} {op.path}", op.method.lower()
        documented = set(self.spec["paths"][op.path][method]["responses"])
        if mode is GenerationMode.POSITIVE:
            ips = st.sampled_from(self.addresses)
            if "release" in op.path:  # bound just now (Targets.bind)
                ips = st.just(self.targets.lease) | ips
            names = self.names
            if op.path.endswith("/sync"):
                names = st.just(Targets.ONE) | names
            elif method == "delete":
                names = st.just(Targets.BOTH) | names
            # GET /pairs/{pair} without a query is answered by the cached fast path before
            # Flask (counted nowhere): half of them ask ?fresh=, which only Flask answers
            query = st.sampled_from([None, None, {"fresh": "false"}, {"fresh": "true"}]) \
                if op.path == "/api/v1/pairs/{pair}" and method == "get" else st.none()
            steering = (st.sampled_from([True, True, True, False]), often(ips),
                        often(names), often(self.hosts), query)
        else:
            steering = (st.just(False), st.none(), st.none(), st.none(), st.none())

        @settings(max_examples=EXAMPLES, deadline=DEADLINE, database=None)
        @given(case=op.as_strategy(generation_mode=mode), steer_by=st.tuples(*steering))
        def run(case: Any, steer_by: tuple[Any, ...]) -> None:
            changed = steer(case, self.pair_names, *steer_by)
            self.library.start(label)
            try:
                response = case.call(headers=credentials(case))
            finally:
                self.library.end()
            self.cases += 1
            status = response.status_code
            self.statuses[(label, mode.value, status)] += 1
            assert status != 500, (case.as_curl_command(), response.text)
            assert str(status) in documented, (
                f"{label} answered {status}, which its OpenAPI document does not list "
                f"({', '.join(sorted(documented))}): {case.as_curl_command()}\n{response.text}")
            checks = CHECKS if changed else [*CHECKS, negative_data_rejection]
            case.validate_response(response, checks=checks)

        run()

    def table(self, labels: list[str]) -> str:
        lib = self.library
        rows = []
        for label in labels:
            kinds = lib.kinds(label)
            did = (f"library {', '.join(sorted(lib.methods(label)))}: " + ", ".join(
                f"{kind} x{n}" for kind, n in sorted(kinds.items()))) if kinds else (
                f"handled {lib.handled[label]}, library reads {lib.reads[label]}")
            rows.append(f"{label}: {did}; statuses " + ", ".join(
                f"{mode[:3]} {status} x{n}" for (lb, mode, status), n
                in sorted(self.statuses.items()) if lb == label))
        return "\n".join(rows)

    def short(self, labels: list[str]) -> list[str]:
        """The operations below their minimum (MIN_GUARDED, MIN_HANDLED)."""
        out = []
        for label in labels:
            method = label.split()[0]
            if method in ("POST", "DELETE") and label not in READ_POSTS:
                kind = EXPECTED.get(label, "dry-run")
                got = self.library.kinds(label)[kind]
                if got < MIN_GUARDED:
                    out.append(f"{label}: {kind} x{got} < {MIN_GUARDED}")
            elif self.library.handled[label] < MIN_HANDLED:
                out.append(f"{label}: handled {self.library.handled[label]} < {MIN_HANDLED}")
        return out


@pytest.mark.integration
@pytest.mark.timeout(120, func_only=True)  # the fuzz itself; the shared lab starts before
def test_no_500_and_every_response_matches_the_document(lab, service_cfg, monkeypatch,
                                                         tmp_path):
    app = create_app(load_config(service_cfg), poll=False)
    targets = None
    try:
        targets = Targets(lab, tmp_path / "targets.log", reservable(app))
        spec = app.test_client().get("/api/v1/openapi.json").get_json()
        fuzz = Fuzz(app, monkeypatch, targets, spec)
        started = time.monotonic()
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        labels = [f"{op.method.upper()} {op.path}" for op in operations]
        assert len(labels) == 22, labels  # every operation of the document
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if "release" in op.path and mode is GenerationMode.POSITIVE:
                    targets.bind()
                fuzz.operation(op, mode)
        assert not fuzz.library.unsafe, fuzz.library.unsafe
        table = fuzz.table(labels)
        print(f"fuzzed {fuzz.cases} cases in {time.monotonic() - started:.1f} s\n{table}")
        short = fuzz.short(labels)
        assert not short, "below the minimum:\n" + "\n".join(short) + f"\n{table}"
        rows, _ = app.extensions["omapifo"].store.audit(limit=10**6)
        sent = [row for row in rows if row.outcome in ("done", "unknown", "partial")]
        assert not sent, sent  # ("failed" is dhcpd having no such lease: nothing was sent)
    finally:
        app.extensions["omapifo"].close()
        if targets is not None:
            targets.remove()
    with FailoverPair(lab.pair_config()) as fp:
        state = fp.state()
    assert (state.primary.local_state, state.secondary.local_state) == (
        FailoverState.NORMAL, FailoverState.NORMAL), state
