"""setup.cfg: `pip install omapifo` is the library alone; the service, its client and the
`omapifo` command are the `service` extra; one version; the licence ships (docs/packaging.md)."""
from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import omapifo
from omapifo.clients import cli

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_DEPS = {"pypureomapi", "marshmallow", "pyrate-limiter"}
WEB_STACK = {"flask", "flask-smorest", "waitress", "apscheduler", "prometheus-client"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower().replace("_", "-")


def _requirements() -> tuple[set[str], dict[str, set[str]]]:
    plain: set[str] = set()
    extras: dict[str, set[str]] = {}
    for req in md.requires("omapifo") or []:
        m = re.search(r"""extra\s*==\s*["']([^"']+)["']""", req)
        if m:
            extras.setdefault(m.group(1), set()).add(_name(req))
        else:
            plain.add(_name(req))
    return plain, extras


def test_the_library_requires_only_its_own_dependencies():
    plain, extras = _requirements()
    assert plain == LIBRARY_DEPS
    assert WEB_STACK <= extras["service"]
    assert not WEB_STACK & plain


def test_the_commands_missing_extra_table_is_the_extras_list():
    _, extras = _requirements()
    named = {_name(d) for d in cli.SERVICE_MODULES.values()}
    assert named == extras[cli.SERVICE_EXTRA]


def test_one_version():
    assert md.version("omapifo") == omapifo.__version__
    cfg = (ROOT / "setup.cfg").read_text()
    assert "version = attr: omapifo.__version__" in cfg
    assert omapifo.__version__ not in cfg


def test_the_licence_is_the_mpl_text():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("Mozilla Public License Version 2.0")
    assert "license = MPL-2.0" in (ROOT / "setup.cfg").read_text()


def _without_flask(*argv: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys; sys.modules['flask'] = None\n"
            "from omapifo.clients import cli\n"
            f"sys.exit(cli.main({list(argv)!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


def test_without_the_service_extra_the_command_names_it():
    r = _without_flask("status")
    assert r.returncode == 2, r.stderr
    assert "pip install 'omapifo[service]'" in r.stderr
    assert "Traceback" not in r.stderr
    r = _without_flask("--version")  # still says what is installed
    assert (r.returncode, r.stdout) == (0, f"omapifo {omapifo.__version__}\n")


def _copy_distribution(name: str, site: Path) -> None:
    """Install ``name`` into ``site`` offline: the files pip recorded for it here."""
    dist = md.distribution(name)
    for f in dist.files or []:
        src = Path(dist.locate_file(f))
        if src.is_file() and "__pycache__" not in f.parts:
            dest = site / f
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_fresh_venv_with_the_library_deps_imports_omapifo(tmp_path):
    """The wheel, installed with --no-deps plus only the library's dependencies into an empty
    venv: `import omapifo` works, no web framework is there, and the command says which extra
    it needs."""
    src = tmp_path / "src"
    src.mkdir()
    for part in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / part, src / part)
    for pkg in ("omapifo", "api", "clients", "lab"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, timeout=120, env=env)
    wheel, = (tmp_path / "dist").glob("omapifo-*.whl")
    venv = tmp_path / "venv"
    # the system's python, not this venv's, so nothing of this venv is visible there
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=60)
    py = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=120, env=env)
    site = Path(subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    assert site != Path(sysconfig.get_paths()["purelib"])
    for dep in LIBRARY_DEPS:
        _copy_distribution(dep, site)
    check = subprocess.run([*pip, "--python", str(py), "check"], capture_output=True, text=True,
                           timeout=60, env=env)
    assert check.returncode == 0, check.stdout + check.stderr  # the library's deps are met

    probe = ("import importlib.util, omapifo\n"
             "print(omapifo.__version__)\n"
             "print(sorted(m for m in ('flask', 'flask_smorest', 'waitress', 'apscheduler',"
             " 'prometheus_client') if importlib.util.find_spec(m)))")
    r = subprocess.run([str(py), "-I", "-c", probe], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == [omapifo.__version__, "[]"]

    r = subprocess.run([str(venv / "bin" / "omapifo"), "status"], capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2
    assert "pip install 'omapifo[service]'" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([str(venv / "bin" / "omapifo"), "--version"], capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, f"omapifo {omapifo.__version__}\n")
