"""``omapifo keygen``: the key file, its mode and group, and the lines it prints."""
from __future__ import annotations

import base64
import grp
import os
import re
import shutil
import stat
import subprocess

import pytest

from omapifo import FailoverPair, FailoverState, Role, load_config
from omapifo.clients import cli, keygencli

from ..conftest import build_lab


def keygen(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(["keygen", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def toml_lines(out: str) -> str:
    return out.split("# omapifo.toml")[1].split("\n", 1)[1]


@pytest.mark.parametrize("algorithm,size", [
    (None, 32), ("hmac-sha256", 32), ("hmac-md5", 16), ("hmac-sha512", 64)])
def test_keygen_writes_a_0600_key_of_the_digest_size_that_load_config_reads(
        tmp_path, capsys, algorithm, size):
    """Without --group the key is its owner's alone (issue 21: the primary group may be
    `users`, and every member would read the OMAPI secret)."""
    key = tmp_path / "omapi.key"
    rc, out, _ = keygen(capsys, str(key), *(["--algorithm", algorithm] if algorithm else []))
    algorithm = algorithm or "hmac-sha256"  # the default
    assert rc == 0
    st = key.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    assert f"wrote {key} ({algorithm}, mode 600, owner only)" in out
    secret = key.read_text().strip()
    assert len(base64.b64decode(secret, validate=True)) == size
    # the dhcpd.conf lines for both servers
    assert "omapi-port 7911;" in out and "omapi-key omapi_key;" in out
    assert f'key omapi_key {{ algorithm {algorithm}; secret "{secret}"; }};' in out
    # the omapifo.toml lines load as they are, and give the same key
    cfg = tmp_path / "omapifo.toml"
    cfg.write_text('[pairs.p]\nprimary = "198.18.10.253"\nsecondary = "198.18.60.253"\n'
                   + toml_lines(out))
    k = load_config(cfg).pairs["p"].key
    assert (k.name, k.secret, k.algorithm) == ("omapi_key", secret, algorithm)


def test_two_keys_differ(tmp_path, capsys):
    keygen(capsys, str(tmp_path / "a"))
    keygen(capsys, str(tmp_path / "b"))
    assert (tmp_path / "a").read_text() != (tmp_path / "b").read_text()


def test_keygen_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    key = tmp_path / "omapi.key"
    key.write_text("old\n")
    rc, out, err = keygen(capsys, str(key))
    assert rc == 2 and "exists" in err and "--force" in err and not out
    assert key.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["omapi.key"]  # no temporary left
    rc, out, _ = keygen(capsys, str(key), "--force", "--algorithm", "hmac-md5")
    assert rc == 0 and key.read_text() != "old\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # a dangling symlink is not followed nor replaced without --force
    link = tmp_path / "link.key"
    link.symlink_to(tmp_path / "nowhere")
    assert keygen(capsys, str(link))[0] == 2 and not (tmp_path / "nowhere").exists()


def test_keygen_into_a_missing_directory_says_so(tmp_path, capsys):
    rc, out, err = keygen(capsys, str(tmp_path / "nowhere" / "omapi.key"))
    assert rc == 2 and "cannot write in" in err and "nowhere" in err and not out


def test_keygen_group(tmp_path, capsys):
    key = tmp_path / "omapi.key"
    rc, _, err = keygen(capsys, str(key), "--group", "no-such-group-here")
    assert rc == 2 and "no group named 'no-such-group-here'" in err and not key.exists()
    if os.geteuid() != 0:
        pytest.skip("chgrp to another group needs root")
    other = next(g for g in grp.getgrall() if g.gr_gid != os.getgid())
    rc, out, _ = keygen(capsys, str(key), "--group", other.gr_name)
    assert rc == 0 and key.stat().st_gid == other.gr_gid
    assert stat.S_IMODE(key.stat().st_mode) == 0o640  # --group: its members read it
    assert f"mode 640, group {other.gr_name})" in out
    # owner root, group-readable: what load_config accepts for the Nagios plugin
    cfg = tmp_path / "omapifo.toml"
    cfg.write_text('[pairs.p]\nprimary = "198.18.10.253"\nsecondary = "198.18.60.253"\n'
                   + toml_lines(out))
    assert load_config(cfg).pairs["p"].key.algorithm == "hmac-sha256"


def test_keygen_refuses_a_name_dhcpd_conf_cannot_hold(tmp_path, capsys):
    for bad in ('a"b', "omapi_key\n"):  # "$" of a match() let the final newline through
        rc, _, err = keygen(capsys, str(tmp_path / "k"), "--name", bad)
        assert rc == 2 and "--name" in err and not (tmp_path / "k").exists()


def test_the_secret_is_only_in_the_file_and_the_lines_to_paste(tmp_path, capsys):
    rc, out, _ = keygen(capsys, str(tmp_path / "k"))
    secret = (tmp_path / "k").read_text().strip()
    assert out.count(secret) == 1  # once, in the dhcpd.conf key statement
    assert re.search(r'secret "' + re.escape(secret) + '"', out)
    assert keygencli.KEYGEN_ALGORITHMS == {"hmac-md5": 16, "hmac-sha256": 32, "hmac-sha512": 64}


@pytest.mark.integration
def test_a_lab_runs_on_a_key_made_by_keygen(tmp_path_factory, capsys):
    """dhcpd takes the printed key statement's algorithm and secret (the lab writes the
    same statement from the key file), and omapifo authenticates with the 0600 file."""
    made: dict[str, str] = {}

    def put_key(lab):
        lab.dir.mkdir(parents=True, exist_ok=True)
        rc, out, _ = keygen(capsys, str(lab.key_path))
        assert rc == 0
        made["secret"] = lab.key_path.read_text().strip()

    gen = build_lab(tmp_path_factory, "kg", before_up=put_key, algorithm="hmac-sha256")
    lab = next(gen)
    try:
        assert stat.S_IMODE(lab.key_path.stat().st_mode) == 0o600  # used as keygen left it
        key = lab.pair_config().key
        assert (key.algorithm, key.secret) == ("hmac-sha256", made["secret"])
        for role in Role:
            assert f'secret "{made["secret"]}"' in lab.conf_path(role).read_text()
        with FailoverPair(lab.pair_config()) as pair:
            assert pair.state().primary.local_state is FailoverState.NORMAL
    finally:
        gen.close()



# shutil.which alone misses /usr/sbin on a non-root user's PATH
DHCPD = shutil.which("dhcpd") or shutil.which("dhcpd", path="/usr/sbin")


@pytest.mark.skipif(DHCPD is None, reason="needs ISC dhcpd (make apt)")
@pytest.mark.parametrize("algorithm", sorted(keygencli.KEYGEN_ALGORITHMS))
def test_dhcpd_accepts_the_printed_lines(tmp_path, capsys, algorithm):
    rc, out, _ = keygen(capsys, str(tmp_path / "k"), "--algorithm", algorithm)
    lines = out.split("# dhcpd.conf")[1].split("\n", 1)[1].split("\n\n")[0]
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(lines + "\nsubnet 10.9.9.0 netmask 255.255.255.0 {}\n")
    proc = subprocess.run([DHCPD, "-4", "-t", "-cf", str(conf)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
