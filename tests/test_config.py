"""omapifo.config: the TOML file, validated with clear messages."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest

from omapifo import ConfigError, Endpoint, load_config

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
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("omapifo.config.DEFAULT_CONFIG_PATHS", (tmp_path / "omapifo.toml",))
    with pytest.raises(ConfigError, match="no configuration file"):
        load_config()
    write(tmp_path, GOOD)
    assert "classroom-1-6" in load_config().pairs


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
