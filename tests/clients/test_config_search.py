"""Where the command line finds its configuration (issue 22, "admin habits"): --config,
then $OMAPIFO_CONFIG, then ~/.config/omapifo/omapifo.toml ($XDG_CONFIG_HOME), then
/etc/omapifo/omapifo.toml, and never the working directory: `sudo omapifo ...` typed in a
checkout acted on whatever omapifo.toml was there. No lab needed: the configurations here
name closed loopback ports, and `omapifo completion pairs` prints the pairs of the file it
read without contacting anything."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from omapifo import ConfigError, load_config
from omapifo.clients import cli
from omapifo._config import find_config, user_config_path

from ..api.conftest import OFFLINE_KEY


def pair_file(path: Path, pair: str) -> Path:
    """A configuration whose one pair is ``pair`` (a name that says which file was read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[pairs.{pair}]\nprimary = "127.0.0.1:9"\nsecondary = "127.0.0.1:10"\n'
                    f'key_name = "k"\nkey = "{OFFLINE_KEY}"\n')
    path.chmod(0o600)  # an inline key: owner only
    return path


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A working directory holding an omapifo.toml, an empty home, no $OMAPIFO_CONFIG or
    $XDG_CONFIG_HOME, and the system's file moved into tmp_path (absent until written)."""
    work, home = tmp_path / "checkout", tmp_path / "home"
    home.mkdir()
    pair_file(work / "omapifo.toml", "from-the-working-directory")
    monkeypatch.chdir(work)
    for name in ("OMAPIFO_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    system = tmp_path / "etc" / "omapifo" / "omapifo.toml"
    monkeypatch.setattr("omapifo._config.SYSTEM_CONFIG", system)
    return {"work": work, "home": home, "system": system,
            "user": home / ".config" / "omapifo" / "omapifo.toml"}


def pairs(capsys, *argv: str) -> str:
    """The pair names of the file `omapifo [argv] completion pairs` read."""
    assert cli.main([*argv, "completion", "pairs"]) == 0
    return capsys.readouterr().out.strip()


def test_the_working_directorys_file_is_never_read(places, capsys):
    assert Path("omapifo.toml").is_file()  # right there, in the working directory
    with pytest.raises(ConfigError) as err:
        load_config()
    msg = str(err.value)
    # the error names everything that was tried, and says the working directory is not
    assert "$OMAPIFO_CONFIG (not set)" in msg and str(places["user"]) in msg
    assert str(places["system"]) in msg and "working directory is never searched" in msg
    assert "--config FILE" in msg
    assert cli.main(["status"]) == 2
    assert "no configuration file: tried" in capsys.readouterr().err
    # the system's file, once there, is what is read, still not the one in front of us
    pair_file(places["system"], "from-etc")
    assert pairs(capsys) == "from-etc"


def test_the_order_config_then_environment_then_user_then_system(places, capsys, monkeypatch):
    pair_file(places["system"], "from-etc")
    pair_file(places["user"], "from-home")
    assert pairs(capsys) == "from-home"
    named = pair_file(places["work"].parent / "named.toml", "from-the-environment")
    monkeypatch.setenv("OMAPIFO_CONFIG", str(named))
    assert pairs(capsys) == "from-the-environment"
    given = pair_file(places["work"].parent / "given.toml", "from-the-option")
    assert pairs(capsys, "--config", str(given)) == "from-the-option"
    assert pairs(capsys, "-c", str(given)) == "from-the-option"
    # a named file that is not there is an error, not a reason to look elsewhere
    monkeypatch.setenv("OMAPIFO_CONFIG", str(places["work"] / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope.toml \(from \$OMAPIFO_CONFIG\): no such file"):
        find_config()
    monkeypatch.setenv("OMAPIFO_CONFIG", "")  # empty: as if unset
    assert find_config() == places["user"]


def test_xdg_config_home_is_respected_when_absolute(places, tmp_path, monkeypatch):
    xdg = tmp_path / "xdg"
    pair_file(xdg / "omapifo" / "omapifo.toml", "from-xdg")
    pair_file(places["user"], "from-home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert find_config() == xdg / "omapifo" / "omapifo.toml"
    # the XDG Base Directory spec: a relative path is invalid and ignored
    monkeypatch.setenv("XDG_CONFIG_HOME", "xdg")
    assert find_config() == places["user"]
    assert user_config_path({"HOME": "/home/alice"}) == Path(
        "/home/alice/.config/omapifo/omapifo.toml")
    assert user_config_path({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path(
        "/x/omapifo/omapifo.toml")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_home_file_another_user_controls_is_refused(places):
    """Under `sudo -E` (or a sudoers keeping HOME) root's search reaches the invoking
    user's ~/.config: a file, or its directory, that another user owns or others may write
    is refused, as the working directory's file would have had to be."""
    user = pair_file(places["user"], "from-home")
    os.chown(user, 65534, 65534)  # nobody's
    with pytest.raises(ConfigError, match=r"omapifo.toml belongs to uid 65534, not to you"):
        find_config()
    os.chown(user, 0, 0)
    os.chown(user.parent, 65534, 65534)  # a directory nobody owns: it could swap the file
    with pytest.raises(ConfigError, match=r"/omapifo belongs to uid 65534"):
        find_config()
    os.chown(user.parent, 0, 0)
    user.chmod(0o620)
    with pytest.raises(ConfigError, match=r"may be written by others \(mode 620\); run: "
                                          r"chmod go-w"):
        find_config()
    user.chmod(0o600)
    assert find_config() == user
