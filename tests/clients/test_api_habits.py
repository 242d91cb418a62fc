"""Going through the service without typing it every time (issue 22, "admin habits"):
$OMAPIFO_API_URL is --api's default, and the token comes from --token-file (before the
command or after it, for every command that asks the service), $OMAPIFO_TOKEN_FILE or
$OMAPIFO_TOKEN. A real service on loopback, over a pair on closed ports (no lab): a
command that went through it prints the service's answer; one that went straight over
OMAPI finds no configuration file (there is none here) and says so."""
from __future__ import annotations

import json

import pytest

from omapifo.clients import cli, servecli

from ..api.conftest import OPERATOR, READER, offline_config
from .test_config_search import pair_file

NO_CONFIG = "no configuration file"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    d = tmp_path_factory.mktemp("api-habits")
    url, run, stop = servecli.start(offline_config(d / "db.sqlite3"), "127.0.0.1:0")
    servecli.run_in_thread(run)
    yield url
    stop()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No configuration anywhere, no service or token in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("omapifo._config.SYSTEM_CONFIG", tmp_path / "etc" / "omapifo.toml")
    for name in ("OMAPIFO_CONFIG", "XDG_CONFIG_HOME", "OMAPIFO_API_URL", "OMAPIFO_TOKEN",
                 "OMAPIFO_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def token_file(tmp_path, token: str, mode: int = 0o600):
    path = tmp_path / f"token-{mode:o}"
    path.write_text(token + "\n")
    path.chmod(mode)
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    got = capsys.readouterr()
    return code, got.out, got.err


def went_through_the_service(code: int, out: str) -> bool:
    """`status p --json` answered by the service: the pair on closed ports, unreachable."""
    return code == 3 and json.loads(out)["pair"] == "p"


def test_the_url_from_the_environment_and_an_empty_one_to_go_direct(env, service, capsys,
                                                                   tmp_path):
    env.setenv("OMAPIFO_TOKEN", READER)
    code, _, err = run(capsys, "status", "p", "--json")
    assert code == 2 and NO_CONFIG in err  # no service named: straight over OMAPI
    env.setenv("OMAPIFO_API_URL", service)
    assert went_through_the_service(*run(capsys, "status", "p", "--json")[:2])
    # --api wins over the environment; --api '' turns it off for one command
    code, _, err = run(capsys, "status", "p", "--json", "--api", "http://127.0.0.1:9")
    assert code == 3 and "cannot reach the service at http://127.0.0.1:9" in err
    code, _, err = run(capsys, "status", "p", "--json", "--api", "")
    assert code == 2 and NO_CONFIG in err
    env.setenv("OMAPIFO_API_URL", "")
    code, _, err = run(capsys, "status", "p", "--json")
    assert code == 2 and NO_CONFIG in err
    # a command that needs the service says where its URL comes from
    config = pair_file(tmp_path / "conf" / "omapifo.toml", "p")
    code, _, err = run(capsys, "--config", str(config), "history", "p")
    assert code == 2 and "--api URL or $OMAPIFO_API_URL" in err


def test_the_token_file_before_or_after_the_command_and_from_the_environment(
        env, service, capsys, tmp_path):
    env.setenv("OMAPIFO_API_URL", service)
    reader = token_file(tmp_path, READER)
    assert went_through_the_service(*run(capsys, "--token-file", reader, "status", "p",
                                         "--json")[:2])
    assert went_through_the_service(*run(capsys, "status", "p", "--json", "--token-file",
                                         reader)[:2])
    env.setenv("OMAPIFO_TOKEN_FILE", reader)
    assert went_through_the_service(*run(capsys, "status", "p", "--json")[:2])
    env.delenv("OMAPIFO_TOKEN_FILE")  # from here on, the option alone
    # the file's token is what is sent: a wrong one is refused by the service
    wrong = token_file(tmp_path, "not-a-token", 0o640)
    code, _, err = run(capsys, "--token-file", wrong, "status", "p")
    assert code == 2 and "omapifo: " in err and "token" in err.lower()
    # every command that asks the service takes it: lease find (leasecli), check, host
    code, out, err = run(capsys, "--token-file", reader, "lease", "find", "198.18.11.40")
    assert code == 1 and "pair p could not be searched" in out + err
    code, out, _ = run(capsys, "--token-file", reader, "check", "p")
    assert code == 2 and out.startswith("OMAPIFO CRITICAL - p: primary unreachable")
    code, out, _ = run(capsys, "check", "p", "--token-file", reader)
    assert code == 2 and out.startswith("OMAPIFO CRITICAL")
    # an operator's token, through the global option, for a change (refused: no partner
    # is known to be down); the refusal comes from the service's guard, so it went there
    operator = token_file(tmp_path, OPERATOR)
    code, _, err = run(capsys, "--token-file", operator, "partner-down", "p", "secondary",
                       "--yes")
    assert code == 1 and "refused" in err


def test_token_mistakes_are_named(env, service, capsys, tmp_path):
    env.setenv("OMAPIFO_API_URL", service)
    code, _, err = run(capsys, "status", "p")
    assert code == 2
    assert "needs the service's token: --token-file PATH, $OMAPIFO_TOKEN_FILE or " \
           "$OMAPIFO_TOKEN" in err
    code, _, err = run(capsys, "--token-file", token_file(tmp_path, READER, 0o644), "status")
    assert code == 2 and "--token-file" in err and "readable by others" in err
    env.setenv("OMAPIFO_TOKEN", READER)
    env.setenv("OMAPIFO_TOKEN_FILE", token_file(tmp_path, READER))
    code, _, err = run(capsys, "status", "p")
    assert code == 2 and "both $OMAPIFO_TOKEN and $OMAPIFO_TOKEN_FILE are set" in err
    # a token file with no service to give it to is a mistake, not ignored
    env.setenv("OMAPIFO_API_URL", "")
    code, _, err = run(capsys, "--token-file", token_file(tmp_path, READER), "status")
    assert code == 2 and "--token-file is the token for --api URL" in err
