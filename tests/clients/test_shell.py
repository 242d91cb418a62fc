"""A command line that fits the shell: --version, bash completion, NO_COLOR, doctor --json,
--audit-log only where something is written. No lab needed."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import omapifo
from omapifo import FailoverState as S, PairState, Role
from omapifo.api.schemas.pairs import PairStateSchema
from omapifo.clients import cli, configcli
from omapifo.clients import output as out
from omapifo._confcheck import Finding
from omapifo._doctor import DoctorReport
from omapifo._health import assess
from omapifo import Level

from ..conftest import IN_CI
from ..test_config import SECRET
from ..test_health import NOW, view


def run(argv: list[str]) -> tuple[int, str, str]:
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: --version, --help, usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, o.getvalue(), e.getvalue()


def subparser(*path: str):
    parser = cli.build_parser()
    for name in path:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


def options(*path: str) -> set[str]:
    return {o for a in subparser(*path)._actions for o in a.option_strings}


# --version ------------------------------------------------------------------------------


def test_version_prints_the_librarys_version():
    code, stdout, _ = run(["--version"])
    assert code == 0 and stdout == f"omapifo {omapifo.__version__}\n"


# NO_COLOR -------------------------------------------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_color_set_and_not_empty_means_no_colour_even_on_a_tty(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert out.colour("critical", Tty()) == "\033[31mcritical\033[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert out.colour("critical", Tty()) == "critical"
    assert out.colour("partner-down", Tty()) == "partner-down"
    monkeypatch.setenv("NO_COLOR", "")  # set but empty: colour as usual (no-color.org)
    assert out.colour("critical", Tty()) == "\033[31mcritical\033[0m"


# --audit-log only where something is written --------------------------------------------

WRITERS = [("partner-down",), ("shutdown",), ("lease", "release"), ("host", "add"),
           ("host", "delete"), ("host", "sync"), ("maintenance", "start")]
# (subcommand, its arguments)
READERS = [(("status",), ()), (("history",), ("p",)), (("pools",), ("p",)),
           (("lease", "show"), ("p", "198.18.1.10")), (("doctor",), ("p",)),
           (("check",), ("p",)), (("config", "check"), ("a.conf", "b.conf")),
           (("lease", "list"), ("p",)), (("lease", "find"), ("x",)), (("host", "show"), ("p",)),
           (("host", "list"), ("p",)), (("maintenance", "end"), ("p", "primary"))]


@pytest.mark.parametrize("path", WRITERS, ids=" ".join)
def test_the_subcommands_that_write_take_audit_log(path):
    assert "--audit-log" in options(*path)


@pytest.mark.parametrize("path,args", READERS, ids=[" ".join(p) for p, _ in READERS])
def test_read_only_subcommands_do_not_offer_audit_log(path, args):
    assert "--audit-log" not in options(*path)
    code, _, err = run([*path, *args, "--audit-log", "a.log"])
    assert code == 2 and "unrecognized arguments: --audit-log" in err


# doctor --json --------------------------------------------------------------------------


def _report(level_of_finding: Level | None = None) -> DoctorReport:
    views = (view(Role.PRIMARY, S.NORMAL, S.NORMAL), view(Role.SECONDARY, S.NORMAL, S.NORMAL))
    state = PairState("classroom-1-6", *views, NOW, assess(*views, NOW))
    findings = [] if level_of_finding is None else [
        Finding("FO002", level_of_finding, "addresses do not mirror", "mirror them",
                "dhcpd.conf", 7)]
    return DoctorReport("classroom-1-6", findings=findings, notes=["a note"], state=state,
                        live=["primary (198.18.10.253): normal"], pools=["p: 10 addresses"],
                        next_step="Nothing to do.")


@pytest.fixture
def doctor(monkeypatch):
    reports: list[DoctorReport] = []
    monkeypatch.setattr(configcli, "load_config", lambda path: None)
    monkeypatch.setattr(configcli, "open_pair",
                        lambda config, name: contextlib.nullcontext(object()))
    monkeypatch.setattr(configcli, "diagnose", lambda pair, scan: reports[0])
    return reports


def test_doctor_json_dumps_the_report_with_the_services_state_schema(doctor):
    doctor.append(_report(Level.WARNING))
    code, stdout, _ = run(["doctor", "classroom-1-6", "--json"])
    assert code == 0
    doc = json.loads(stdout)
    assert set(doc) == {"pair", "findings", "notes", "state", "live", "pools", "next_step"}
    rep = doctor[0]
    assert doc["state"] == json.loads(json.dumps(PairStateSchema().dump(rep.state)))
    assert doc["findings"] == [{"code": "FO002", "severity": "warning",
                                "message": "addresses do not mirror", "hint": "mirror them",
                                "file": "dhcpd.conf", "line": 7}]
    assert (doc["notes"], doc["live"], doc["pools"], doc["next_step"]) == (
        rep.notes, rep.live, rep.pools, rep.next_step)
    # the state loads back with the service's schema, as a script's client would
    assert PairStateSchema().load(doc["state"]).health.level is rep.state.health.level


def test_doctor_json_exits_like_the_human_report(doctor):
    doctor.append(_report(Level.CRITICAL))
    code, stdout, _ = run(["doctor", "classroom-1-6", "--json"])
    assert code == 1 and json.loads(stdout)["findings"][0]["severity"] == "critical"
    code_human, human, _ = run(["doctor", "classroom-1-6"])
    assert code_human == 1 and human.startswith("doctor: classroom-1-6")


# bash completion ------------------------------------------------------------------------

bash = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")


def complete(script: str, *words: str) -> list[str]:
    """What TAB offers after ``words`` (the last one is the word being completed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in ("omapifo", *words))
    probe = (f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n"
             "_omapifo; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    # a PAIR runs `omapifo completion pairs`: this venv's omapifo
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("OMAPIFO_CONFIG", None)
    r = subprocess.run(["bash", "--norc", "--noprofile"], input=probe, capture_output=True,
                       text=True, timeout=30, check=True, env=env)
    return [w for w in r.stdout.split("\n") if w]


@pytest.fixture(scope="module")
def script() -> str:
    code, stdout, err = run(["completion", "bash"])
    assert code == 0, err
    return stdout


@bash
def test_completion_offers_subcommands_nested_ones_and_choices(script):
    assert complete(script, "st") == ["status"]
    assert complete(script, "lease", "") == ["show", "release", "list", "find"]
    assert complete(script, "lab", "s") == ["status", "stop", "start"]
    assert complete(script, "partner-down", "classroom-1-6", "") == ["primary", "secondary"]
    assert complete(script, "completion", "") == ["bash", "zsh", "fish", "pairs"]
    assert complete(script, "lab", "client", "") == ["1", "2", "3", "4"]


# `omapifo status`'s own options (not the global ones: -c/--config, --token-file before it)
STATUS_OPTIONS = {"--help", "--api", "--json", "--token-file", "--watch"}


@bash
def test_completion_offers_each_subcommands_own_options(script):
    assert set(complete(script, "status", "--")) == STATUS_OPTIONS
    assert "--audit-log" in complete(script, "partner-down", "p", "primary", "--")
    assert "--no-dhcpd" in complete(script, "config", "check", "a", "b", "--")
    # an option's value is stepped over, even when it looks like a subcommand (a
    # configuration file named "lab"): then the subcommands again
    assert "doctor" in complete(script, "-c", "lab", "")
    assert complete(script, "-c", "lab", "lease", "") == ["show", "release", "list", "find"]


@bash
def test_completion_completes_file_names_after_options_that_take_a_file(script, tmp_path):
    (tmp_path / "omapifo.toml").write_text("")
    assert complete(script, "-c", str(tmp_path / "omapi")) == [str(tmp_path / "omapifo.toml")]


@bash
def test_every_subcommand_is_in_the_script(script):
    top = next(a for a in cli.build_parser()._actions
               if a.__class__.__name__ == "_SubParsersAction")
    assert complete(script, "") == list(top.choices)


PAIRS = """
[pairs.classroom-1-6]
primary = "198.18.10.253:7911"
secondary = "198.18.60.253"
key_name = "omapi_key"
key = "{secret}"

[pairs.lab-2]
primary = "198.18.20.253"
secondary = "198.18.70.253"
key_name = "omapi_key"
key = "{secret}"
"""


@bash
def test_a_pair_argument_completes_the_configured_pairs(script, tmp_path):
    conf = tmp_path / "omapifo.toml"
    conf.write_text(PAIRS.format(secret=SECRET))
    conf.chmod(0o600)  # an inline secret: refused in a file others can read
    c = ["-c", str(conf)]
    assert complete(script, *c, "partner-down", "") == ["classroom-1-6", "lab-2"]
    assert complete(script, *c, "lease", "show", "cl") == ["classroom-1-6"]
    # the second argument of partner-down is the peer, not a pair
    assert complete(script, *c, "partner-down", "lab-2", "") == ["primary", "secondary"]
    assert complete(script, *c, "status", "--json", "l") == ["lab-2"]
    # no configuration: nothing offered, and no error on the line
    assert complete(script, "-c", str(tmp_path / "none.toml"), "doctor", "") == []


# zsh completion (the bash script through bashcompinit), driven in a real interactive zsh --

ZSH_TAB = Path(__file__).resolve().parent / "zsh_tab.zsh"  # TAB in a real zsh (zpty)

zsh = pytest.mark.skipif(shutil.which("zsh") is None and not IN_CI,
                         reason="no zsh (make test installs it)")


@pytest.fixture(scope="module")
def zsh_script(tmp_path_factory) -> Path:
    code, stdout, err = run(["completion", "zsh"])
    assert code == 0, err
    d = tmp_path_factory.mktemp("zsh")
    (d / "omapifo.zsh").write_text(stdout)
    return d


def zsh_complete(d: Path, line: str) -> tuple[list[str], str]:
    """What zsh offers for TAB at the end of ``line`` (the candidates that match the word
    being completed), and the line as TAB left it."""
    out = d / "out"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("OMAPIFO_CONFIG", None)
    subprocess.run(["zsh", "-f", str(ZSH_TAB), str(d / "omapifo.zsh"), str(out), line],
                   env=env, timeout=30, check=True, capture_output=True)
    lines = out.read_text().splitlines()
    buffer = next(ln for ln in lines if ln.startswith("BUFFER="))[len("BUFFER="):]
    word = line.rsplit(" ", 1)[-1]
    offered = [w for w in lines if w and not w.startswith("BUFFER=") and w.startswith(word)]
    return offered, buffer


@zsh
def test_zsh_completes_with_the_same_tables(zsh_script, tmp_path):
    assert zsh_complete(zsh_script, "omapifo st") == (["status"], "omapifo status ")
    assert zsh_complete(zsh_script, "omapifo lease ")[0] == ["show", "release", "list", "find"]
    assert zsh_complete(zsh_script, "omapifo lab s")[0] == ["status", "stop", "start"]
    assert zsh_complete(zsh_script, "omapifo partner-down p ")[0] == ["primary", "secondary"]
    assert set(zsh_complete(zsh_script, "omapifo status --")[0]) == STATUS_OPTIONS
    assert zsh_complete(zsh_script, "omapifo -c lab lease ")[0] == ["show", "release", "list",
                                                                      "find"]
    (tmp_path / "omapifo.toml").write_text("")
    assert zsh_complete(zsh_script, f"omapifo -c {tmp_path}/omapi")[1] == \
        f"omapifo -c {tmp_path}/omapifo.toml "
    conf = tmp_path / "pairs.toml"
    conf.write_text(PAIRS.format(secret=SECRET))
    conf.chmod(0o600)
    assert zsh_complete(zsh_script, f"omapifo -c {conf} partner-down ")[0] == [
        "classroom-1-6", "lab-2"]
    assert zsh_complete(zsh_script, f"omapifo -c {conf} lease show cl")[1] == \
        f"omapifo -c {conf} lease show classroom-1-6 "


# fish completion: fish's own `complete -C LINE` says what TAB offers --------------------

fish = pytest.mark.skipif(shutil.which("fish") is None and not IN_CI,
                          reason="no fish (make test installs it)")


@pytest.fixture(scope="module")
def fish_script(tmp_path_factory) -> Path:
    code, stdout, err = run(["completion", "fish"])
    assert code == 0, err
    path = tmp_path_factory.mktemp("fish") / "omapifo.fish"
    path.write_text(stdout)
    return path


def fish_complete(script: Path, line: str) -> list[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("OMAPIFO_CONFIG", None)
    r = subprocess.run(["fish", "--no-config", "-c", "source $argv[1]; complete -C $argv[2]",
                        str(script), line], env=env, timeout=30, check=True,
                       capture_output=True, text=True)
    assert not r.stderr, r.stderr
    return [ln.split("\t")[0] for ln in r.stdout.splitlines()]


@fish
def test_fish_completes_with_the_same_tables(fish_script, tmp_path):
    assert fish_complete(fish_script, "omapifo st") == ["status"]
    # fish sorts the words
    assert fish_complete(fish_script, "omapifo lease ") == ["find", "list", "release", "show"]
    assert fish_complete(fish_script, "omapifo lab s") == ["start", "status", "stop"]
    assert fish_complete(fish_script, "omapifo partner-down p ") == ["primary", "secondary"]
    assert set(fish_complete(fish_script, "omapifo status --")) == STATUS_OPTIONS
    assert fish_complete(fish_script, "omapifo -c lab lease ") == ["find", "list", "release",
                                                                    "show"]
    assert fish_complete(fish_script, "omapifo lab client ") == ["1", "2", "3", "4"]
    (tmp_path / "omapifo.toml").write_text("")
    assert fish_complete(fish_script, f"omapifo -c {tmp_path}/omapi") == [
        f"{tmp_path}/omapifo.toml"]
    conf = tmp_path / "pairs.toml"
    conf.write_text(PAIRS.format(secret=SECRET))
    conf.chmod(0o600)
    assert fish_complete(fish_script, f"omapifo -c {conf} partner-down ") == [
        "classroom-1-6", "lab-2"]
    assert fish_complete(fish_script, f"omapifo -c {conf} partner-down lab-2 ") == [
        "primary", "secondary"]
    top = next(a for a in cli.build_parser()._actions
               if a.__class__.__name__ == "_SubParsersAction")
    assert fish_complete(fish_script, "omapifo ") == sorted(top.choices)


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`omapifo ... | head`: the reader closes the pipe; the command ends with 141 (as
    SIGPIPE ends a command) and no traceback or "internal error" on stderr, whether the
    output is large (written while the command runs) or small (still in the buffer at
    the end)."""
    conf = tmp_path / "pairs.toml"
    conf.write_text(PAIRS.format(secret=SECRET))
    conf.chmod(0o600)
    omapifo = str(Path(sys.executable).parent / "omapifo")
    for argv in (["completion", "bash"], ["-c", str(conf), "completion", "pairs"]):
        proc = subprocess.Popen([omapifo, *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdout.close()  # before the interpreter has started: every write meets EPIPE
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 141 and err == b"", (argv, proc.returncode, err)
