"""`omapifo check`'s rating of a pair's state (the four exit codes against the real pair are
in test_cli.py); here, states the lab cannot safely be put in.

The check rates nothing itself but communications-interrupted's clock: it calls
omapifo._health.assess, then rates each peer's seconds there by the -w/-c ranges, so with
the service's thresholds (-w 0 -c 300) it says what the pair's health says.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from itertools import product

import pytest

from omapifo import __version__
from omapifo import _wire as wire
from omapifo import (Config, Evidence, FailoverState as S, Level, PairProbe, PairState,
                     PeerView, ProbeResult, Role)
from omapifo.api.schemas.pairs import PairStateSchema
from omapifo._config import parse_config
from omapifo._errors import ConfigError
from omapifo.clients import checkcli
from omapifo.clients.backend import DirectBackend
from omapifo.clients.checkcli import evaluate
from omapifo.clients.cli import build_parser
from omapifo.clients.nagrange import Range
from omapifo.clients.exitcodes import check_status
from omapifo._health import assess, format_duration
from omapifo._severity import PEER_CRITICAL_AFTER

from ..recorded import failover_state
from ..test_guards import state as guard_state
from .samples import NOW, P, PRIMARY, SECONDARY

CI, PD, NORMAL = S.COMMUNICATIONS_INTERRUPTED, S.PARTNER_DOWN, S.NORMAL
W, C = Range.parse("60"), Range.parse("300")  # the defaults


def peer(role: Role, states: tuple[S, S] | None, age: float | None) -> PeerView:
    ep = PRIMARY if role is Role.PRIMARY else SECONDARY
    if states is None:
        return PeerView(role, ep, None, f"{role}, read failover state: no answer within 3 s",
                        "PeerTimeout")
    stos = 0 if age is None else int((NOW - timedelta(seconds=age)).timestamp())
    return PeerView(role, ep, wire.failover_status(P, failover_state(
        *states, stos=stos, hierarchy=0 if role is Role.PRIMARY else 1)))


def state(primary: tuple[S, S] | None, secondary: tuple[S, S] | None,
          age: float | None = 10) -> PairState:
    """A pair's state as `omapifo check` gets it: the service's JSON, decoded again."""
    views = peer(Role.PRIMARY, primary, age), peer(Role.SECONDARY, secondary, age)
    schema = PairStateSchema()
    return schema.load(schema.dump(PairState(P, *views, NOW, assess(*views, NOW))))


def test_both_partner_down_is_critical_not_two_warnings():
    level, text, _ = evaluate(state((PD, PD), (PD, PD)), W, C)
    assert level is Level.CRITICAL and "split brain" in text


def test_one_partner_down_is_a_warning():
    level, text, _ = evaluate(state((PD, CI), (CI, PD)), W, C)
    assert level is Level.WARNING and "primary partner-down" in text


# monitoring-plugins ranges: "60" is 0:60, alert above it (the samples' clock is a quarter
# second past the whole second dhcpd reports, so 60 would be 60.25 s here)
@pytest.mark.parametrize("age, expected", [(30, Level.OK), (59, Level.OK), (61, Level.WARNING),
                                           (299, Level.WARNING), (301, Level.CRITICAL)])
def test_communications_interrupted_is_rated_by_w_and_c(age, expected):
    level, text, perf = evaluate(state((CI, NORMAL), (CI, NORMAL), age=age), W, C)
    assert level is expected
    assert f"primary communications-interrupted for {format_duration(age)}" in text
    assert f"secondary_comms_interrupted_seconds={age}s;60;300;0" in perf


@pytest.mark.parametrize("partner, age, expected", [
    ((CI, NORMAL), 10, Level.OK), ((CI, NORMAL), 100, Level.WARNING),
    ((CI, NORMAL), 400, Level.CRITICAL), ((PD, CI), 10, Level.WARNING),
    ((NORMAL, NORMAL), 10, Level.CRITICAL)])
def test_an_unreachable_peer_is_rated_by_its_partners_clock_once_it_noticed(partner, age,
                                                                            expected):
    level, text, perf = evaluate(state(None, partner, age=age), W, C)
    assert level is expected and text.startswith(f"{P}: primary unreachable")
    assert perf.startswith("primary_state=0 secondary_state=")


def test_neither_peer_answering_is_critical():
    level, text, perf = evaluate(state(None, None), W, C)
    assert level is Level.CRITICAL and text == f"{P}: primary unreachable, secondary unreachable"
    assert perf == ("primary_state=0 secondary_state=0 "
                    "primary_comms_interrupted_seconds=U;60;300;0 "
                    "secondary_comms_interrupted_seconds=U;60;300;0")


def test_an_unknown_time_in_communications_interrupted_is_critical_as_in_the_service():
    st = state((CI, NORMAL), (NORMAL, NORMAL), age=None)
    level, text, perf = evaluate(st, W, C)
    assert level is Level.CRITICAL and st.health.level is Level.CRITICAL
    assert "communications-interrupted for an unknown time" in text
    assert "primary_comms_interrupted_seconds=U;60;300;0" in perf


def test_both_normal_is_ok_with_todays_perfdata():
    level, text, perf = evaluate(state((NORMAL, NORMAL), (NORMAL, NORMAL)), W, C)
    assert (level, check_status(level)) == (Level.OK, 0)
    assert text == f"{P}: both peers normal"
    # the seconds are there (0) when no peer is communications-interrupted: every label
    # always, so graphs have no holes and thresholds parse the same on every run
    assert perf == ("primary_state=2 secondary_state=2 "
                    "primary_comms_interrupted_seconds=0s;60;300;0 "
                    "secondary_comms_interrupted_seconds=0s;60;300;0")


STATES = list(S)


@pytest.mark.parametrize("p_local", STATES, ids=str)
def test_with_the_services_thresholds_the_check_says_what_health_says(p_local):
    """Every pair of states (and a peer that does not answer, and a long interruption):
    the check's level is the pair's health level; one rating, not two."""
    for s_local, p_partner, age in product(STATES + [None], (NORMAL, CI, PD), (10, 900)):
        st = state((p_local, p_partner), (s_local, p_local) if s_local else None, age=age)
        if st.secondary.reachable or p_local not in (CI, PD):
            # (the one documented difference: a peer that does not answer while its
            # partner noticed is rated by the partner; tested above)
            assert evaluate(st, Range.parse("0"), C)[0] is st.health.level, (p_local, s_local, age)


# --- issue 14: ranges, always-present perfdata, -t, -V, --token-file, -c after "check" ---

@pytest.mark.parametrize("spec, alerting, quiet", [
    ("10", [-1, 10.5, 11], [0, 5, 10]),
    ("10:", [-1, 0, 9.9], [10, 11, 1e9]),
    ("~:10", [10.5, 11, 1e9], [-1e9, 0, 10]),
    ("10:20", [9, 21], [10, 15, 20]),
    ("@10:20", [10, 15, 20], [9, 21]),
    ("0.5:1.5", [0, 2], [0.5, 1, 1.5]),
])
def test_monitoring_plugins_ranges(spec, alerting, quiet):
    r = Range.parse(spec)
    assert str(r) == spec  # perfdata repeats the range as given
    assert [v for v in alerting if not r.alerts(v)] == []
    assert [v for v in quiet if r.alerts(v)] == []


@pytest.mark.parametrize("spec", ["", "abc", ":", "@", "@:", "20:10", "10:20:30", "1e3",
                                  "10s"])
def test_what_is_not_a_range_is_refused(spec):
    with pytest.raises(ValueError):
        Range.parse(spec)


def test_ranges_rate_communications_interrupted():
    st = state((CI, NORMAL), (NORMAL, NORMAL), age=100)
    # inside @60:200 is CRITICAL; outside 10:50 (above it) is WARNING
    assert evaluate(st, W, Range.parse("@60:200"))[0] is Level.CRITICAL
    assert evaluate(st, Range.parse("10:50"), Range.parse("~:1000"))[0] is Level.WARNING
    level, _, perf = evaluate(st, Range.parse("~:1000"), Range.parse("@60:200"))
    assert level is Level.CRITICAL
    assert "primary_comms_interrupted_seconds=100s;~:1000;@60:200;0" in perf


def test_comms_interrupted_seconds_are_always_in_the_perfdata():
    """A peer normal, one in partner-down, one unreachable: each has its label."""
    for st, want in [
            (state((NORMAL, NORMAL), (NORMAL, NORMAL)), ("0s", "0s")),
            (state((PD, CI), (CI, PD), age=42), ("0s", "42s")),
            (state(None, (CI, NORMAL), age=42), ("U", "42s"))]:
        perf = evaluate(st, W, C)[2]
        for role, value in zip(("primary", "secondary"), want, strict=True):
            assert f"{role}_comms_interrupted_seconds={value};60;300;0" in perf.split(), perf


def run_check(argv: list[str], capsys) -> tuple[int, str]:
    args = build_parser().parse_args(argv)
    status = args.func(args)
    return status, capsys.readouterr().out


def test_the_whole_check_is_bounded_by_t(monkeypatch, capsys):
    release = threading.Event()
    monkeypatch.setattr(checkcli, "_run", lambda *a: (release.wait(10), (0, "late"))[1])
    t = time.monotonic()
    status, out = run_check(["check", "p", "-t", "0.3"], capsys)
    release.set()
    assert time.monotonic() - t < 2
    assert status == 3 and out == "OMAPIFO UNKNOWN - p: no answer within the check " \
                                  "timeout (-t 0.3 s)\n"


def test_a_failure_is_unknown_not_a_crash(monkeypatch, capsys):
    def boom(*args):
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(checkcli, "_run", boom)
    assert run_check(["check", "p"], capsys) == (3, "OMAPIFO UNKNOWN - something unforeseen\n")


@pytest.mark.parametrize("argv, message", [
    (["-w", "20:10"], "the start of the range is above its end"),
    (["-c", "x"], "'x' is not a threshold range"),
    (["-t", "0"], "the timeout must be above 0")])
def test_bad_thresholds_are_unknown(argv, message, capsys):
    status, out = run_check(["check", "p", *argv], capsys)
    assert status == 3 and out.startswith("OMAPIFO UNKNOWN - ") and message in out


def test_v_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["check", "-V"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"omapifo check {__version__}\n"


def test_c_before_check_is_the_config_after_it_the_critical_range():
    args = build_parser().parse_args(["-c", "/etc/omapifo/omapifo.toml", "check", "p", "-w",
                                      "60", "-c", "300"])
    assert (args.config, args.warning, args.critical) == ("/etc/omapifo/omapifo.toml", "60",
                                                          "300")
    args = build_parser().parse_args(["--config", "f.toml", "check", "p", "--critical", "@1:2"])
    assert (args.config, args.critical) == ("f.toml", "@1:2")


def test_the_token_file_is_read_only_when_no_one_else_can(tmp_path, monkeypatch, capsys):
    token = tmp_path / "token"
    token.write_text("reader-token\n")
    token.chmod(0o644)
    with pytest.raises(ConfigError, match="--token-file.*readable by others.*chmod o-rwx"):
        checkcli.read_token_file(str(token))
    token.chmod(0o640)  # root:nagios, as the plugin's user reads it: accepted like a key file
    assert checkcli.read_token_file(str(token)) == "reader-token"
    token.chmod(0o600)
    assert checkcli.read_token_file(str(token)) == "reader-token"
    with pytest.raises(ConfigError, match="cannot read"):
        checkcli.read_token_file(str(tmp_path / "missing"))

    seen = {}

    class FakeBackend:
        def __init__(self, client):
            seen["token"] = client.session.headers["Authorization"]

        def pair(self, name):
            raise RuntimeError("stop here")

        def close(self):
            pass

    monkeypatch.setattr("omapifo.clients.backend.ApiBackend", FakeBackend)  # open_backend's
    monkeypatch.delenv("OMAPIFO_TOKEN", raising=False)
    monkeypatch.delenv("OMAPIFO_API_URL", raising=False)
    status, out = run_check(["check", "p", "--api", "http://127.0.0.1:9", "--token-file",
                             str(token)], capsys)
    assert seen == {"token": "Bearer reader-token"} and status == 3 and "stop here" in out
    status, out = run_check(["check", "p", "--token-file", str(token)], capsys)
    assert status == 3 and "--token-file is the token for --api" in out


# --- issue 22: one dead-peer policy, shared by `omapifo check` and the alerting rules ---
# deploy/prometheus/tests/omapifo_fail_loud_test.yml has the rules at the same boundary:
# the secondary communications-interrupted for 300 s (silent) and 301 s (critical), with
# omapifo_peer_critical_after_seconds at PEER_CRITICAL_AFTER (tests/test_prometheus_rules.py
# checks that the two use the same numbers).

def dead_primary(seconds: float) -> PairState:
    """The primary dead (no answer), the secondary communications-interrupted for exactly
    ``seconds`` at the read (dhcpd's clock has whole seconds; the read here too)."""
    since = int(NOW.timestamp()) - 1000
    read_at = datetime.fromtimestamp(since + seconds, timezone.utc)
    primary = peer(Role.PRIMARY, None, None)
    secondary = PeerView(Role.SECONDARY, SECONDARY, wire.failover_status(P, failover_state(
        CI, NORMAL, stos=since, hierarchy=1)))
    schema = PairStateSchema()  # as `omapifo check --api` gets it
    return schema.load(schema.dump(PairState(P, primary, secondary, read_at,
                                             assess(primary, secondary, read_at))))


def test_a_dead_peer_is_critical_above_the_policys_number_as_in_the_rules():
    crit = checkcli.default_critical(None)
    assert str(crit) == f"{PEER_CRITICAL_AFTER:g}" == "300"
    n = PEER_CRITICAL_AFTER
    assert evaluate(dead_primary(n), W, crit)[0] is Level.WARNING
    level, text, perf = evaluate(dead_primary(n + 1), W, crit)
    assert level is Level.CRITICAL, text
    assert "secondary_comms_interrupted_seconds=301s;60;300;0" in perf
    # the library's rating of the same read (the service's, once the partner noticed)
    for seconds, want in ((n, Level.WARNING), (n + 1, Level.CRITICAL)):
        st = dead_primary(seconds)
        assert assess(st.primary, st.secondary, st.read_at,
                      rate_unreachable_by_partner=True).level is want, seconds


def offline(limit: float | None) -> Config:
    service = {} if limit is None else {"comms_interrupted_warning": limit}
    return parse_config({"pairs": {P: {"primary": "127.0.0.1:9", "secondary": "127.0.0.1:10",
                                       "key_name": "k", "key": "eHh4eHh4eHh4eHh4eHh4eA=="}},
                         "service": service})


def test_without_c_the_check_takes_the_configurations_limit(monkeypatch, tmp_path, capsys):
    """`-c` unset: the configuration's comms_interrupted_warning, the number the service
    rates by and exports to the rules; PEER_CRITICAL_AFTER when it does not set one."""
    assert build_parser().parse_args(["check", P]).critical is None
    assert str(checkcli.default_critical(offline(None))) == "300"
    for limit, seconds, status in ((600, 600, 1), (600, 601, 2), (None, 301, 2)):
        backend = DirectBackend(offline(limit), "test", tmp_path / "audit.log")
        monkeypatch.setattr(backend.pair(P), "state", lambda s=seconds: dead_primary(s))
        monkeypatch.setattr(checkcli, "_backend", lambda args, b=backend: b)
        got, out = run_check(["check", P], capsys)
        crit = f"{limit or PEER_CRITICAL_AFTER:g}"
        assert (got, f"secondary_comms_interrupted_seconds={seconds}s;60;{crit};0") == \
            (status, out.split()[-1]), out
    # given, -c wins over the configuration
    got, out = run_check(["check", P, "-c", "1000"], capsys)
    assert got == 1 and out.split()[-1].endswith(";60;1000;0"), out


# -- --probe: what a client sees, next to the state ----------------------------------------

def _round(primary: bool, secondary: bool) -> PairProbe:
    at = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
    return PairProbe("p", "198.18.9.1", 4, 3.0, tuple(
        ProbeResult(role, "x", "02:6f:6d:70:00:01", 1, at, answered,
                    offered="198.18.9.40" if answered else None,
                    latency=1.002 if answered else None)
        for role, answered in ((Role.PRIMARY, primary), (Role.SECONDARY, secondary))))


@pytest.mark.parametrize("primary,secondary,answers,level,words", [
    (S.NORMAL, S.NORMAL, (True, True), Level.OK, "primary serving, secondary serving"),
    (S.NORMAL, S.NORMAL, (False, True), Level.CRITICAL, "primary normal but not answering DHCP"),
    (S.PARTNER_DOWN, None, (True, True), Level.CRITICAL,
     "secondary answers DHCP while the primary is in partner-down"),
    (S.PARTNER_DOWN, None, (True, False), Level.OK, "secondary not answering DHCP"),
    (S.COMMUNICATIONS_INTERRUPTED, None, (True, False), Level.OK,
     "primary serving, secondary not answering DHCP"),
])
def test_a_probe_round_is_rated_next_to_the_state(primary, secondary, answers, level, words):
    st = guard_state(primary, secondary if secondary is not None else Evidence.DHCPD_STOPPED)
    got, text, perf = checkcli.evaluate_probe(st, _round(*answers))
    assert got is level and words in text, text
    assert ("primary_probe_seconds=1.002s" if answers[0] else "primary_probe_seconds=U") in perf
