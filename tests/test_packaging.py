"""setup.cfg: `pip install omapifo` is the library alone; the service, its client and the
`omapifo` command are the `service` extra, the lab's dependency the `lab` extra; one
version; the licence ships; the deploy files are package data that `omapifo deploy-files`
writes out; the sdist is the whole project and its unit tests pass (docs/packaging.md)."""
from __future__ import annotations

import ast
import email.parser
import importlib.metadata as md
import inspect
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import omapifo
from omapifo.clients import cli, deploycli

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
LIBRARY_DEPS = {"pypureomapi", "marshmallow", "pyrate-limiter", "dpkt"}
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




PIP = [sys.executable, "-m", "pip"]
PIP_ENV = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _purelib(python: Path) -> Path:
    return Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=60).stdout.strip())


def _empty_venv(venv: Path) -> Path:
    """A venv of the system's Python, not of this venv, so nothing of this one is visible
    there; its python."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=60)
    return venv / "bin" / "python"


# -- the lab extra -------------------------------------------------------------------------

def _third_party_imports(directory: Path) -> set[str]:
    names: set[str] = set()
    for f in directory.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.partition(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "omapifo"}


def test_the_lab_extra_is_what_the_lab_imports():
    _, extras = _requirements()
    assert _third_party_imports(ROOT / "lab") == {"tomli_w"}
    assert extras["lab"] == {"tomli-w"}
    assert "tomli-w" not in extras["service"]  # the service in production never builds a lab


# -- PyPI's page ---------------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)")  # a markdown link's target: [text](target)


def test_pypis_page_links_nowhere_relative_and_the_readmes_links_resolve():
    """PyPI shows docs/pypi.md (setup.cfg): a relative link there leads nowhere, so it has
    none; README.md's relative links are the repository's and must name files that exist."""
    assert "long_description = file: docs/pypi.md" in (ROOT / "setup.cfg").read_text()
    page = (ROOT / "docs" / "pypi.md").read_text()
    assert all(t.startswith("https://") for t in LINK.findall(page)), LINK.findall(page)
    assert "href=" not in page
    for name in re.findall(r"`(docs/[\w.-]+\.md)", page):  # the pages it names by path
        assert (ROOT / name).is_file(), name
    targets = LINK.findall((ROOT / "README.md").read_text())
    assert targets
    for t in targets:
        if "://" not in t:
            assert (ROOT / t.partition("#")[0]).exists(), t


# -- the deploy files ----------------------------------------------------------------------

def _repository_deploy_files() -> dict[str, bytes]:
    """deploy/ as the repository has it, but for what is no deploy file: the package's
    __init__.py and promtool's rule tests (setup.cfg leaves those out of the wheel)."""
    base = ROOT / "deploy"
    out = {}
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base).as_posix()
        if p.is_file() and rel != "__init__.py" and "__pycache__" not in rel \
                and not rel.startswith("prometheus/tests/"):
            out[rel] = p.read_bytes()
    return out


def _written(directory: Path) -> dict[str, Path]:
    return {p.relative_to(directory).as_posix(): p for p in directory.rglob("*")
            if p.is_file() or p.is_symlink()}


def _deploy(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(["deploy-files", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_systemd_accepts(unit: Path) -> None:
    # verify exits 0 even for unknown keys and bad values, which it only prints: any
    # output at all fails (as tests/test_systemd_unit.py checks the unit in the repository)
    proc = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr


def test_the_packaged_deploy_files_are_the_deploy_directory():
    shipped = {k.as_posix(): v for k, v in deploycli.deploy_files().items()}
    assert shipped == _repository_deploy_files()
    assert {"systemd/omapifo.service", "prometheus/omapifo.rules.yml",
            "grafana/omapifo.json"} <= set(shipped)


def test_deploy_files_writes_each_file_once_says_so_and_points_the_unit_here(
        tmp_path, capsys):
    target = tmp_path / "out"
    rc, out, err = _deploy(capsys, str(target))
    assert (rc, err) == (0, "")
    expected = _repository_deploy_files()
    written = _written(target)
    assert set(written) == set(expected)
    for rel, path in written.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, rel
    here = Path(sys.executable).parent / "omapifo"  # this venv's, as pip installed it
    assert deploycli.installed_command() == here
    unit = written["systemd/omapifo.service"].read_text()
    assert f"\nExecStart={here} -c /etc/omapifo/omapifo.toml serve\n" in unit
    # nothing else of any file changed
    assert unit.replace(str(here), deploycli.SHIPPED_COMMAND).encode() == \
        expected["systemd/omapifo.service"]
    assert all(written[rel].read_bytes() == data for rel, data in expected.items()
               if rel != "systemd/omapifo.service")
    lines = out.splitlines()
    assert sorted(line.split(" ")[1] for line in lines) == sorted(str(p) for p in
                                                                   written.values())
    assert f"wrote {target}/systemd/omapifo.service (ExecStart runs {here}: this " \
        "installation)" in lines


def test_deploy_files_keeps_what_is_there_unless_forced_and_never_follows_a_link(
        tmp_path, capsys):
    target = tmp_path / "out"
    mine = target / "grafana" / "omapifo.json"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own dashboard")
    rc, out, err = _deploy(capsys, str(target))
    assert (rc, out) == (2, "")
    assert f"{mine} already there; nothing written (--force replaces them)" in err
    assert mine.read_text() == "my own dashboard"
    assert set(_written(target)) == {"grafana/omapifo.json"}  # nothing else either

    elsewhere = tmp_path / "elsewhere.service"
    elsewhere.write_text("not to be touched")
    (target / "systemd").mkdir()
    (target / "systemd" / "omapifo.service").symlink_to(elsewhere)
    rc, out, err = _deploy(capsys, "--force", "--command", "/usr/bin/omapifo", str(target))
    assert (rc, err) == (0, "")
    assert elsewhere.read_text() == "not to be touched"
    unit = target / "systemd" / "omapifo.service"
    assert not unit.is_symlink()
    assert "\nExecStart=/usr/bin/omapifo -c /etc/omapifo/omapifo.toml serve\n" in \
        unit.read_text()
    assert f"wrote {unit} (ExecStart runs /usr/bin/omapifo)" in out.splitlines()
    assert mine.read_bytes() == _repository_deploy_files()["grafana/omapifo.json"]


def test_deploy_files_wants_an_absolute_command(tmp_path, capsys):
    rc, out, err = _deploy(capsys, "--command", "bin/omapifo", str(tmp_path / "out"))
    assert (rc, out) == (2, "")
    assert "--command 'bin/omapifo': give an absolute path" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze (Debian: systemd)")
def test_the_unit_deploy_files_writes_passes_systemd_analyze_verify(tmp_path, capsys):
    rc, _, err = _deploy(capsys, str(tmp_path))
    assert rc == 0, err
    _assert_systemd_accepts(tmp_path / "systemd" / "omapifo.service")


# -- the sdist and the wheel, built ---------------------------------------------------------

_NOT_SOURCE_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "build",
                    "dist", ".mypy_cache", ".ruff_cache", "artifacts"}


def _checkout_files() -> list[str]:
    """The project's files, as a release takes them: what git tracks or would (untracked
    but not ignored). Outside a git checkout (an unpacked sdist) every file but caches,
    venvs and build output."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached",
                                 "--others", "--exclude-standard"], check=True,
                                capture_output=True, timeout=60).stdout.decode()
        return sorted(p for p in set(listed.split("\0")) if p and (ROOT / p).is_file())
    files = []
    for d, dirs, names in os.walk(ROOT):
        dirs[:] = [x for x in dirs if x not in _NOT_SOURCE_DIRS and not x.endswith(".egg-info")]
        files += [os.path.relpath(os.path.join(d, n), ROOT) for n in names
                  if not n.endswith(".pyc") and ".sqlite3" not in n]
    return sorted(files)


def _generated(name: str) -> bool:
    """What setuptools adds to an sdist of its own."""
    return name == "PKG-INFO" or name.startswith("omapifo.egg-info/")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist, and the wheel built from it, as `python -m build` makes them. Offline
    (--no-isolation: the backend pyproject.toml names, from this venv; CI may have no
    PyPI), from a copy of the checkout, so the build's egg-info never lands in it."""
    tmp = tmp_path_factory.mktemp("build")
    src = tmp / "src"
    for rel in _checkout_files():
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest, follow_symlinks=False)
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(tmp / "dist"), str(src)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "cannot be found" not in proc.stdout + proc.stderr  # e.g. a `file:` of setup.cfg
    sdist, = (tmp / "dist").glob("omapifo-*.tar.gz")
    wheel, = (tmp / "dist").glob("omapifo-*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def installed(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed in an empty venv whose dependencies are this venv's packages (a
    .pth file names this interpreter's site directories: no index, no network); its python.
    Only paths: this venv's own .pth files (its editable omapifo) are not run there."""
    py = _empty_venv(tmp_path_factory.mktemp("wheel") / "venv")
    sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))
             and os.path.isdir(p)]
    (_purelib(py) / "omapifo_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sites))
    subprocess.run([*PIP, "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(built[1])], check=True, timeout=120, env=PIP_ENV)
    return py


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_sdist_holds_every_file_of_the_checkout(built):
    sdist, _ = built
    with tarfile.open(sdist) as tar:
        names = {m.name.partition("/")[2] for m in tar.getmembers() if m.isfile()}
    assert {n for n in names if not _generated(n)} == \
        {n for n in _checkout_files() if not _generated(n)} - {".gitignore"}
    for must in ("tests/conftest.py", "tests/api/conftest.py", "tests/clients/zsh_tab.zsh",
                 "docs/install.md", "docs/pypi.md", "deploy/systemd/omapifo.service",
                 "deploy/prometheus/tests/omapifo_rules_test.yml", "lab/lab.py",
                 "bench/run_all.py", "Makefile", "MANIFEST.in", ".ci/run", "LICENSE"):
        assert must in names, must


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheel_carries_the_deploy_files_and_pypis_metadata(built):
    _, wheel = built
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = email.parser.Parser().parsestr(zf.read(next(
            n for n in names if n.endswith(".dist-info/METADATA"))).decode())
        deploy = {n.removeprefix("omapifo/deploy/"): zf.read(n) for n in names
                  if n.startswith("omapifo/deploy/") and n != "omapifo/deploy/__init__.py"}
    assert deploy == _repository_deploy_files()
    assert {"omapifo/py.typed", "omapifo/api/templates/base.html"} <= names
    assert not [n for n in names if n.split("/")[0] in ("api", "clients", "lab", "deploy",
                                                        "tests", "docs")]
    classifiers = meta.get_all("Classifier") or []
    for c in ("Typing :: Typed", "License :: OSI Approved :: Mozilla Public License 2.0 "
              "(MPL 2.0)", "Programming Language :: Python :: 3.11",
              "Intended Audience :: System Administrators"):
        assert c in classifiers, c
    assert (meta["Requires-Python"], meta["License"]) == (">=3.11", "MPL-2.0")
    assert set(meta.get_all("Provides-Extra") or []) == {"service", "lab", "test"}
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().strip() == (ROOT / "docs" / "pypi.md").read_text().strip()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_fresh_venv_with_the_library_deps_imports_omapifo(built, tmp_path):
    """The wheel, installed with --no-deps plus only the library's dependencies into an empty
    venv: `import omapifo` works, no web framework is there, the command says which extra
    it needs, and the lab says which extra it needs."""
    _, wheel = built
    py = _empty_venv(tmp_path / "venv")
    subprocess.run([*PIP, "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=120, env=PIP_ENV)
    site = _purelib(py)
    assert site != Path(sysconfig.get_paths()["purelib"])
    for dep in LIBRARY_DEPS:
        _copy_distribution(dep, site)
    check = subprocess.run([*PIP, "--python", str(py), "check"], capture_output=True, text=True,
                           timeout=60, env=PIP_ENV)
    assert check.returncode == 0, check.stdout + check.stderr  # the library's deps are met

    probe = ("import importlib.util, omapifo, omapifo.lab\n"
             "print(omapifo.__version__)\n"
             "print(sorted(m for m in ('flask', 'flask_smorest', 'waitress', 'apscheduler',"
             " 'prometheus_client', 'tomli_w') if importlib.util.find_spec(m)))\n"
             "try:\n    omapifo.lab.check_prerequisites()\n"
             "except omapifo.lab.LabError as exc:\n    print(exc)\n")
    r = subprocess.run([str(py), "-I", "-c", probe], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == [
        omapifo.__version__, "[]",
        "the lab needs omapifo's 'lab' extra (tomli-w): pip install 'omapifo[lab]'"]

    omapifo_bin = str(py.parent / "omapifo")
    r = subprocess.run([omapifo_bin, "status"], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.returncode == 2
    assert "pip install 'omapifo[service]'" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([omapifo_bin, "--version"], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, f"omapifo {omapifo.__version__}\n")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze (Debian: systemd)")
def test_from_the_wheel_the_deploy_files_are_written_and_systemd_accepts_the_unit(
        installed, tmp_path):
    where = subprocess.run([str(installed), "-I", "-c", "import omapifo.deploy as d; "
                            "print(d.__file__)"], check=True, capture_output=True, text=True,
                           timeout=60).stdout.strip()
    assert Path(where).is_relative_to(_purelib(installed))  # the wheel's copy, not the tree's
    omapifo_bin = installed.parent / "omapifo"
    target = tmp_path / "deploy"
    r = subprocess.run([str(omapifo_bin), "deploy-files", str(target)], capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    written = _written(target)
    assert set(written) == set(_repository_deploy_files())
    assert len(r.stdout.splitlines()) == len(written)
    unit = written["systemd/omapifo.service"]
    assert f"\nExecStart={omapifo_bin} -c /etc/omapifo/omapifo.toml serve\n" in unit.read_text()
    _assert_systemd_accepts(unit)


def _building_tests() -> list[str]:
    """This file's tests that build the sdist and the wheel (they take those fixtures)."""
    return [name for name, fn in globals().items() if name.startswith("test_")
            and callable(fn) and {"built", "installed"} & set(inspect.signature(fn).parameters)]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_sdists_unit_tests_pass_against_the_wheel_built_from_it(built, installed, tmp_path):
    """What a packager does: unpack the sdist, install the wheel built from it, run
    `make test-unit`'s tests (pytest -m "not integration") of the unpacked tree. Left out
    there: this file's tests that build (this one runs them). Not with PYTHONPATH at the
    tree: its omapifo/ has no api, clients or lab (setup.cfg maps them in), so the tests
    import the installed wheel, and run from another directory, which `python -m` would
    otherwise put first on sys.path."""
    sdist, _ = built
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            tar.extractall(tmp_path, filter="data")
        else:
            tar.extractall(tmp_path)  # noqa: S202 - our own sdist, just built
    src, = tmp_path.glob("omapifo-*")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the wheel's omapifo first, then this venv's tools (promtool), then the system's
    env["PATH"] = f"{installed.parent}:{Path(sys.executable).parent}:{env.get('PATH', '')}"
    building = _building_tests()
    # Left out too: the unit tests that run omapifo as another user (nobody), who cannot
    # read the wheel's venv under pytest's tmp dir (mode 0700); this suite runs them.
    as_nobody = ["tests/test_pairlock.py::"
                 "test_a_user_who_may_not_enter_the_directory_is_told_who_may"]
    proc = subprocess.run(
        [str(installed), "-P", "-m", "pytest", "-m", "not integration", "-q", "-rs",
         "-p", "no:cacheprovider", "--rootdir", str(src), "-c", str(src / "setup.cfg"),
         *[f"--deselect=tests/test_packaging.py::{name}" for name in building],
         *[f"--deselect={node}" for node in as_nobody],
         str(src / "tests")], capture_output=True, text=True, timeout=3500, cwd=cwd, env=env)
    tail = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary \
        and "error" not in summary, tail
