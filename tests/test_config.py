"""omapifo._config: the TOML file, validated with clear messages."""
from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import pytest
import requests

from omapifo import ConfigError, Endpoint, Role, load_config
from omapifo.clients import servecli

from .api.conftest import READER, service_config
from .conftest import restore

SECRET = base64.b64encode(b"0123456789abcdef").decode()


def write(tmp_path: Path, body: str, key_mode: int = 0o600) -> Path:
    key = tmp_path / "omapi.key"
    key.write_text(SECRET + "\n")
    key.chmod(key_mode)
    cfg = tmp_path / "omapifo.toml"
    cfg.write_text(body)
    return cfg


GOOD = """
[pairs.classroom-1-6]
primary   = "198.18.10.253:7911"
secondary = "198.18.60.253"
key_name  = "omapi_key"
key_file  = "omapi.key"
dhcpd_conf = "dhcpd.conf"
"""


def test_good_file(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    pc = cfg.pairs["classroom-1-6"]
    assert pc.primary == Endpoint("198.18.10.253", 7911)
    assert pc.secondary == Endpoint("198.18.60.253", 7911)  # port defaults to 7911
    assert pc.failover_peer == "classroom-1-6"  # defaults to the pair's name
    assert pc.key.secret == SECRET and pc.key.algorithm == "hmac-md5"
    assert pc.dhcpd_conf == tmp_path / "dhcpd.conf"
    assert pc.timeout == 3.0
    assert SECRET not in repr(pc)


@pytest.mark.parametrize("body,words", [
    (GOOD + 'colour = "blue"\n', ["pairs.classroom-1-6.colour", "Unknown field"]),
    (GOOD.replace("198.18.10.253:7911", "198.18.10.253:99999"), ["primary", "port"]),
    (GOOD.replace("198.18.10.253:7911", "not an address!"), ["primary", "neither"]),
    (GOOD.replace("198.18.10.253:7911", "[2001:db8::1]:7911"), ["primary", "IPv6"]),
    (GOOD.replace('key_file  = "omapi.key"', 'key_file = "missing.key"'),
     ["pairs.classroom-1-6.key_file", "missing.key"]),
    (GOOD.replace('key_file  = "omapi.key"', ''), ["key_file", "exactly one"]),
    (GOOD + 'key = "abc"\n', ["exactly one"]),
    (GOOD.replace('198.18.60.253"', '198.18.10.253:7911"'), ["secondary", "also"]),
    (GOOD + '\n[pairs.other]\nprimary = "198.18.10.253"\nsecondary = "198.18.70.1"\n'
            'key_name = "k"\nkey = "' + SECRET + '"\nfailover_peer = "classroom-1-6"\n',
     ["pairs.other.primary", "also", "same failover_peer 'classroom-1-6'"]),
    (GOOD + 'algorithm = "hmac-md4"\n', ["algorithm", "Must be one of"]),
    (GOOD + "timeout = -1\n", ["timeout"]),
    ("[pairs.x\n", ["not valid TOML"]),
    ("[service]\nlisten='x'\n", ["pairs", "required"]),
])
def test_bad_files_name_file_pair_and_field(tmp_path, body, words):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o440])
def test_owner_only_and_group_readable_key_files_are_accepted(tmp_path, mode):
    # 0640 root:nagios is how the Nagios plugin reads the key (docs/install.md)
    assert load_config(write(tmp_path, GOOD, key_mode=mode)).pairs["classroom-1-6"].key.secret \
        == SECRET


@pytest.mark.parametrize("mode,wrong,fix", [
    (0o644, "readable by others (mode 644)", "chmod o-rwx"),
    (0o604, "readable by others (mode 604)", "chmod o-rwx"),
    (0o602, "writable by others (mode 602)", "chmod o-rwx"),
    (0o606, "readable by others and writable by others (mode 606)", "chmod o-rwx"),
    (0o660, "writable by its group (mode 660)", "chmod g-w "),
    (0o620, "writable by its group (mode 620)", "chmod g-w "),
    (0o666, "writable by its group and readable by others and writable by others",
     "chmod g-w,o-rwx"),
])
def test_key_files_others_can_read_or_write_or_the_group_can_write_are_refused(
        tmp_path, mode, wrong, fix):
    cfg = write(tmp_path, GOOD, key_mode=mode)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    msg = str(info.value)
    assert "pairs.classroom-1-6.key_file" in msg and str(tmp_path / "omapi.key") in msg
    assert wrong in msg and f"run: {fix}" in msg, msg


def test_inline_key_and_bad_base64(tmp_path):
    body = GOOD.replace('key_file  = "omapi.key"', f'key = "{SECRET}"')
    cfg = write(tmp_path, body)
    cfg.chmod(0o640)  # an inline secret: the file must not be readable by others
    assert load_config(cfg).pairs["classroom-1-6"].key.secret == SECRET
    cfg = write(tmp_path, body.replace(SECRET, "not*base64"))
    cfg.chmod(0o600)
    with pytest.raises(ConfigError, match="base64"):
        load_config(cfg)


@pytest.mark.parametrize("mode", [0o644, 0o604])
def test_inline_key_in_a_file_others_can_read_is_refused(tmp_path, mode):
    cfg = write(tmp_path, GOOD.replace('key_file  = "omapi.key"', f'key = "{SECRET}"'))
    cfg.chmod(mode)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    msg = str(info.value)
    assert str(cfg) in msg and "pairs.classroom-1-6.key" in msg
    assert f"readable by others (mode {mode:o}); run: chmod o-rwx {cfg}" in msg, msg
    assert SECRET not in msg


def test_a_key_file_config_readable_by_others_is_fine(tmp_path):
    # the secret is in the key file; the configuration itself may be world-readable
    cfg = write(tmp_path, GOOD)
    cfg.chmod(0o644)
    assert load_config(cfg).pairs["classroom-1-6"].key.secret == SECRET


def test_missing_file_and_default_search(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")
    # the search (tests/clients/test_config_search.py has the rest): never the working
    # directory, the system's file last
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("omapifo._config.SYSTEM_CONFIG", tmp_path / "omapifo.toml")
    with pytest.raises(ConfigError, match="no configuration file"):
        load_config(environ={"HOME": str(tmp_path / "home")})
    write(tmp_path, GOOD)
    assert "classroom-1-6" in load_config(environ={"HOME": str(tmp_path / "home")}).pairs


def test_unknown_pair_lists_the_known_ones(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="no pair named 'x'.*classroom-1-6"):
        cfg.pair_config("x")


def test_service_section(tmp_path):
    body = GOOD + """
[service]
listen = "127.0.0.1:9000"
poll_interval = 2
database = "state.sqlite3"
[[service.tokens]]
name = "noc"
role = "reader"
sha256 = "%s"
""" % ("a" * 64)
    svc = load_config(write(tmp_path, body)).service
    assert svc.poll_interval == 2 and svc.database == tmp_path / "state.sqlite3"
    assert svc.tokens[0].name == "noc" and svc.tokens[0].role == "reader"
    with pytest.raises(ConfigError, match="tokens.0.sha256"):
        load_config(write(tmp_path, body.replace("a" * 64, "secret")))


def test_in_memory_database_is_not_a_file_next_to_the_config(tmp_path):
    body = GOOD + '\n[service]\ndatabase = ":memory:"\n'
    assert str(load_config(write(tmp_path, body)).service.database) == ":memory:"


SECOND_PEER = """
[pairs.classroom-2]
primary   = "198.18.10.253:7911"
secondary = "198.18.60.253"
key_name  = "omapi_key"
key_file  = "omapi.key"
"""


def test_two_failover_peers_between_the_same_servers_are_two_pairs(tmp_path):
    cfg = load_config(write(tmp_path, GOOD + SECOND_PEER))
    one, two = cfg.pairs["classroom-1-6"], cfg.pairs["classroom-2"]
    assert (one.primary, one.secondary) == (two.primary, two.secondary)
    assert (one.failover_peer, two.failover_peer) == ("classroom-1-6", "classroom-2")


@pytest.mark.parametrize("extra,role", [
    # the second pair names the first one's failover peer: the same relationship twice
    (SECOND_PEER + 'failover_peer = "classroom-1-6"\n', "primary"),
    # the first pair's name is its failover peer by default
    (SECOND_PEER.replace("[pairs.classroom-2]", "[pairs.again]\nfailover_peer = "
                         '"classroom-1-6"').replace('"198.18.10.253:7911"', '"198.18.99.1"'),
     "secondary"),
])
def test_the_same_server_and_failover_peer_twice_is_refused(tmp_path, extra, role):
    path = write(tmp_path, GOOD + extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert f".{role}: 198.18." in msg and "same failover_peer 'classroom-1-6'" in msg, msg
    assert "different failover_peer" in msg, msg


# -- dhcpd's limits as defaults (docs/install.md, "dhcpd's limits") --------------------------

def test_the_scan_window_defaults_to_8_and_may_be_1_to_16(tmp_path):
    assert load_config(write(tmp_path, GOOD)).pairs["classroom-1-6"].scan_window == 8
    for window in (1, 16):
        cfg = load_config(write(tmp_path, GOOD + f"scan_window = {window}\n"))
        assert cfg.pairs["classroom-1-6"].scan_window == window


@pytest.mark.parametrize("value", ["17", "32", "0", "8.5", '"8"'])
def test_a_scan_window_beyond_what_dhcpd_survived_is_refused_with_the_reason(tmp_path, value):
    path = write(tmp_path, GOOD + f"scan_window = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert f"{path}: pairs.classroom-1-6.scan_window: " in msg, msg
    if value in ("17", "32", "0"):
        assert "must be 1 to 16 (default 8): a scan window of 32 unanswered lookups made " \
            "dhcpd 4.4.3 abort, 16 was measured safe" in msg, msg


def test_the_configured_window_is_the_scans_window_unless_one_is_given(tmp_path):
    """pools/lease lists take the pair's scan_window when the caller gives none; the window
    cap itself is omapifo._scan's (one place: MAX_WINDOW)."""
    from omapifo import _pools as pools, _scan as scan

    pc = load_config(write(tmp_path, GOOD + "scan_window = 3\n")).pairs["classroom-1-6"]
    seen: list[int] = []

    class Pair:
        name, config = pc.name, pc

        def peer(self, role):
            return role

    def fake_scan(peer, ips, *, window, rate, progress):
        seen.append(window)
        return []

    pools.scan_both(Pair(), fake_scan, [], window=None, rate=None, progress=None)
    pools.scan_both(Pair(), fake_scan, [], window=12, rate=None, progress=None)
    assert seen == [3, 3, 12, 12]
    assert scan.MAX_WINDOW == 16 and scan.DEFAULT_WINDOW == 8


@pytest.mark.integration
def test_a_configured_window_is_what_a_real_scan_uses(lab, monkeypatch):
    """Against the lab: the pipeline runs with the configuration's window on both peers,
    and counts the same as the default window does."""
    import dataclasses

    from omapifo import FailoverPair, _scan as scan

    restore(lab)
    windows: list[int] = []
    pipeline = scan._pipeline

    def spy(rs, ips, extract, window, *rest):
        windows.append(window)
        return pipeline(rs, ips, extract, window, *rest)

    monkeypatch.setattr(scan, "_pipeline", spy)
    counts = {}
    for window in (16, 8):
        with FailoverPair(dataclasses.replace(lab.pair_config(), scan_window=window)) as p:
            report = p.pools()
        assert report.complete, report.errors
        counts[window] = [(c.name, c.active, c.free, c.backup) for c in report.pools]
    assert windows == [16, 16, 8, 8]
    assert counts[16] == counts[8]


POOL_SCANS_OFF = GOOD.replace('dhcpd_conf = "dhcpd.conf"\n', 'dhcpd_conf = "dhcpd.conf"\n'
                              'pool_scans = false\n')


def test_pool_scans_are_on_by_default_and_switched_off_per_pair_or_for_all(tmp_path):
    assert load_config(write(tmp_path, GOOD)).pairs["classroom-1-6"].pool_scans is True
    assert load_config(write(tmp_path, POOL_SCANS_OFF)).pairs["classroom-1-6"].pool_scans \
        is False
    everywhere = load_config(write(tmp_path, GOOD + SECOND_PEER + "\n[service]\n"
                                   "pool_scans = false\n"))
    assert everywhere.service.pool_scans is False
    assert {n: p.pool_scans for n, p in everywhere.pairs.items()} == {
        "classroom-1-6": False, "classroom-2": False}
    # a pair's own setting wins over the service's
    mixed = load_config(write(tmp_path, GOOD + "pool_scans = true\n" + SECOND_PEER +
                              "\n[service]\npool_scans = false\n"))
    assert {n: p.pool_scans for n, p in mixed.pairs.items()} == {
        "classroom-1-6": True, "classroom-2": False}


def test_a_pool_scan_rate_of_0_is_refused_and_says_how_to_stop_scans(tmp_path):
    assert load_config(write(tmp_path, GOOD)).service.pool_scan_rate == 2000.0
    ok = load_config(write(tmp_path, GOOD + "\n[service]\npool_scan_rate = 0.5\n"))
    assert ok.service.pool_scan_rate == 0.5
    for rate in ("0", "-5"):
        path = write(tmp_path, GOOD + f"\n[service]\npool_scan_rate = {rate}\n")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        msg = str(info.value)
        assert f"{path}: service.pool_scan_rate: must be a positive number of lookups per " \
            "second per peer; 0 no longer means uncapped (to stop the service's scans: " \
            "pool_scans = false" in msg, msg


def _accepted_connections(lab, role: Role) -> int:
    """TCP connections the server's namespace has accepted so far (PassiveOpens of its
    /proc/net/snmp, which is per network namespace): measured on dhcpd's side. A pool scan
    opens a connection of its own to each peer (omapifo._scan: ``peer.clone()``); the
    service's polls keep theirs open."""
    ns = lab.ns("pri" if role is Role.PRIMARY else "sec")
    text = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"], check=True,
                          capture_output=True, text=True, timeout=30).stdout
    header, values = (line.split() for line in text.splitlines() if line.startswith("Tcp:"))
    return int(values[header.index("PassiveOpens")])


def _wait_for(condition, what: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        time.sleep(0.1)


@pytest.mark.integration
def test_switched_off_pool_scans_send_dhcpd_no_lookup(lab, tmp_path):
    """The service with pool_scans = false (service-wide) runs its poller through two pool
    intervals and is asked for the pools: dhcpd accepts no connection but the polls' own,
    and GET .../pools says the scans are off. The same service with scans on is seen
    scanning by the same measure, so the measure can tell."""
    restore(lab)
    interval = 5.0  # the shortest pool_interval the configuration takes

    def run_service(pool_scans: bool, wait) -> tuple[dict[Role, int], object, int]:
        d = tmp_path / f"scans-{pool_scans}"
        d.mkdir()
        path = service_config(lab.config_path, d, d / "omapifo.sqlite3")
        path.write_text(path.read_text().replace(
            "[service]\n", f"[service]\npool_interval = {interval}\n"
            f"pool_scans = {str(pool_scans).lower()}\n"))
        config = load_config(path)
        assert {p.pool_scans for p in config.pairs.values()} == {pool_scans}
        before = {role: _accepted_connections(lab, role) for role in Role}
        url, run, stop, service = servecli.start_service(config, "127.0.0.1:0")
        servecli.run_in_thread(run)
        try:
            assert service.poller.first_round.wait(60)
            wait(service)
            answer = requests.get(f"{url}/api/v1/pairs/classroom-1-6/pools", timeout=30,
                                  headers={"Authorization": f"Bearer {READER}"})
            delta = {role: _accepted_connections(lab, role) - before[role] for role in Role}
        finally:
            stop()
        return delta, answer, len(config.pairs)

    def two_pool_intervals(service) -> None:
        # each pair's pool job first fires within the first interval (staggered, the first
        # pair's at start-up); once every one's next run is 1.5 intervals after the first
        # round of polls, every one has fired twice
        started = time.time()

        def pool_jobs():
            return [j for j in service.poller._scheduler.get_jobs() if j.id.endswith("/pools")]

        assert len(pool_jobs()) == len(service.pairs)
        _wait_for(lambda: all(j.next_run_time.timestamp() >= started + 1.5 * interval
                              for j in pool_jobs()), "two pool intervals")

    delta, answer, pairs = run_service(False, two_pool_intervals)
    assert delta == {Role.PRIMARY: pairs, Role.SECONDARY: pairs}  # one poll connection a pair
    assert answer.status_code == 409, answer.text
    assert "pool scans are switched off (pool_scans = false" in answer.json()["detail"]

    def a_scan(service) -> None:
        _wait_for(lambda: service.poller.last_pools("classroom-1-6") is not None, "a scan")

    delta, answer, pairs = run_service(True, a_scan)
    assert answer.status_code == 200, answer.text
    assert all(n > pairs for n in delta.values()), delta  # the scans' own connections
