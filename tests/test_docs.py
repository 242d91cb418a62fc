"""Every example in docs/ is checked against the lab, so the docs cannot rot.

Fences and what is done with each (an unknown tag fails, it is never skipped):
- ```sh and ```python run as written, in file order, with the environment the docs
  explain: OMAPIFO_CONFIG and OMAPIFO_LAB_PREFIX for the lab, URL, R and O for the REST
  service. A block must exit 0, unless its first lines hold ``# exit N``; a block whose first
  line starts with ``# not run`` is skipped (it says why). ``# as USER`` among the first
  lines runs the block as that user (setpriv); a doc with such blocks runs on a host made
  like production (tests/production.py: the users, systemd's sysctls, /run/omapifo), in a
  directory every user may reach, with URL a service run as omapifo on that host.
- ```text right after a sh/python block is what that block prints: each of its lines must
  appear, in order, among the lines the block printed (stdout then stderr), once times,
  ages, durations, addresses, paths, MACs, hex tokens and runs of spaces are normalised.
  ``...`` in a line matches anything. A text block after prose is an illustration.
- ```toml is loaded with ``omapifo.load_config`` (next to a key file it may name).
- ```yaml is parsed (PyYAML).
The lab is restored to two normal servers before each file.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from omapifo import load_config
from omapifo.clients import servecli

from .api.conftest import OPERATOR, READER, service_config
from .conftest import restore
from .production import (RUN_DIR, install_per_model, production_host, running_service,
                         service_toml, setpriv)

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```([A-Za-z0-9_-]*)\n(.*?)^```[ \t]*$", re.S | re.M)
KNOWN = {"sh", "python", "text", "toml", "yaml"}


@dataclass
class Block:
    lang: str
    body: str
    line: int
    after_command: bool  # a text block directly after a sh/python block (only blank lines)

    @property
    def first(self) -> str:
        return self.body.lstrip().splitlines()[0] if self.body.strip() else ""

    @property
    def skipped(self) -> bool:
        return self.first.startswith("# not run")

    @property
    def markers(self) -> dict[str, str]:
        """The leading ``# exit N`` and ``# as USER`` lines, by word."""
        out: dict[str, str] = {}
        for line in self.body.lstrip().splitlines():
            m = re.fullmatch(r"# (exit|as) (\S+)", line.strip())
            if not m:
                break
            out[m[1]] = m[2]
        return out

    @property
    def expect(self) -> int:
        return int(self.markers.get("exit", 0))

    @property
    def user(self) -> str | None:
        return self.markers.get("as")


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    out: list[Block] = []
    prev_end, prev_lang = 0, None
    for m in FENCE.finditer(text):
        gap = text[prev_end:m.start()]
        after = prev_lang in ("sh", "python") and not gap.strip()
        out.append(Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, after))
        prev_end, prev_lang = m.end(), m.group(1)
    return out


DOC_FILES = sorted(DOCS.glob("*.md"))
RUN_FILES = [p for p in DOC_FILES if any(b.lang in ("sh", "python") and not b.skipped
                                         for b in blocks(p))]

_NORMALISE = [
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)?"), "<TIME>"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "<TIME>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(s|ms|min|h|d|m)\b( ago)?"), "<AGE>"),
    (re.compile(r"\b198\.1[89]\.\d{1,3}\.\d{1,3}(:\d+)?\b"), "<IP>"),
    (re.compile(r"\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b", re.I), "<MAC>"),
    (re.compile(r"(/[\w.@+-]+)+/?"), "<PATH>"),
    (re.compile(r"\b[0-9a-f]{16,}\b"), "<HEX>"),
    (re.compile(r"\bpid \d+\b"), "pid <N>"),
    (re.compile(r"[ \t]+"), " "),
]


def normalise(line: str) -> str:
    for pattern, repl in _NORMALISE:
        line = pattern.sub(repl, line)
    return line.strip()


def matches(expected: str, printed: str) -> str | None:
    """None when every line of ``expected`` is found in order in ``printed``; else the
    first line that was not."""
    got = [normalise(line) for line in printed.splitlines()]
    i = 0
    for want in (normalise(line) for line in expected.splitlines()):
        if not want:
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")))
        while i < len(got) and not pattern.fullmatch(got[i]) and not pattern.search(got[i]):
            i += 1
        if i == len(got):
            return want
        i += 1
    return None


def test_every_doc_with_examples_is_collected():
    names = {p.name for p in RUN_FILES}
    assert {"quickstart.md", "runbook.md", "rest.md", "cli.md", "library.md",
            "monitoring.md", "config-check.md", "lab.md", "hosts.md",
            "leases.md"} <= names, names


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_fence_tags_are_known(doc):
    unknown = [(b.line, b.lang) for b in blocks(doc) if b.lang not in KNOWN]
    assert not unknown, f"{doc.name}: fences with no tag or an unknown one {unknown}; " \
        f"use one of {sorted(KNOWN)}"


def test_the_install_page_is_linked_and_says_why_it_skips():
    """docs/install.md is the admin's way from the lab to real servers (issue 14)."""
    root = DOCS.parent
    for page in (root / "README.md", DOCS / "quickstart.md"):
        assert "install.md" in page.read_text(), page
    install = blocks(DOCS / "install.md")
    for b in install:
        if b.skipped:  # "# not run: <why>"
            assert re.match(r"# not run: \S", b.first), f"install.md:{b.line}: say why"
    ran = "\n".join(b.body for b in install if b.lang == "sh" and not b.skipped)
    for command in ("omapifo keygen", "omapifo config check", "doctor", "omapifo -c",
                    " check classroom-1-6"):
        assert command in ran, command
    text = (DOCS / "install.md").read_text()
    for ref in ("deploy/systemd/omapifo.service", "deploy/prometheus/omapifo.rules.yml",
                "deploy/grafana/omapifo.json", "nft ", "omapifo[service]"):
        assert ref in text, ref


def test_the_output_comparison_can_fail():
    assert matches("classroom-1-6 primary normal", "classroom-1-6  primary  normal") is None
    assert matches("both normal", "the primary is partner-down") == "both normal"
    assert matches("since <TIME>", "since 04:48:46") is None
    assert matches("a\nb", "b\na") == "b"  # order matters


@pytest.mark.parametrize("doc", [p for p in DOC_FILES if any(
    b.lang in ("toml", "yaml") for b in blocks(p))], ids=lambda p: p.name)
def test_toml_and_yaml_examples_load(doc, tmp_path):
    for b in blocks(doc):
        if b.lang == "toml":
            (tmp_path / "omapi.key").write_text("c2VjcmV0IHNlY3JldCBzZWNyZXQ=\n")
            (tmp_path / "omapi.key").chmod(0o600)
            cfg = tmp_path / "example.toml"
            cfg.write_text(b.body)
            load_config(cfg)  # ConfigError names what is wrong
        elif b.lang == "yaml":
            assert yaml.safe_load(b.body) is not None, f"{doc.name}:{b.line}"


@pytest.fixture(scope="module")
def service(lab, tmp_path_factory):
    d = tmp_path_factory.mktemp("docs-service")
    cfg = service_config(lab.config_path, d, d / "db.sqlite3")
    url, run, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(run)
    yield url
    stop()


def test_a_block_may_name_its_user_and_its_exit_status():
    b = Block("sh", "# as nagios\n# exit 1\ncat omapi.key\n", 1, False)
    assert (b.user, b.expect, b.skipped) == ("nagios", 1, False)
    assert (Block("sh", "# exit 2\nfalse\n", 1, False).user, Block("sh", "ls\n# as x\n", 1,
                                                                   False).user) == (None, None)
    install = blocks(DOCS / "install.md")
    assert {b.user for b in install} >= {None, "omapifo", "nagios"}


@contextmanager
def production(lab) -> Iterator[tuple[Path, str]]:
    """(the doc's working directory, the URL of a service run as omapifo) on a host
    made like production, for a doc whose blocks run as other users."""
    with production_host() as host:
        files = install_per_model(host.work / "service", lab.dir, reader_token=READER,
                                  extra_toml=service_toml(READER, OPERATOR))
        (RUN_DIR / f"omapifo-{lab.settings.peer_name}.lock").unlink(missing_ok=True)
        with running_service(host, files) as svc:
            cwd = host.work / "doc"
            cwd.mkdir(mode=0o755)
            yield cwd, svc.url


@pytest.mark.integration
@pytest.mark.parametrize("doc", RUN_FILES, ids=lambda p: p.name)
def test_examples_run_and_print_what_they_say(doc, lab, service, tmp_path):
    restore(lab)
    with ExitStack() as stack:
        if any(b.user for b in blocks(doc)):
            tmp_path, service = stack.enter_context(production(lab))
        run_examples(doc, lab, service, tmp_path)
    restore(lab)


def run_examples(doc: Path, lab, service: str, tmp_path: Path) -> None:
    env = dict(os.environ, OMAPIFO_CONFIG=str(lab.config_path),
               OMAPIFO_LAB_PREFIX=lab.settings.prefix, URL=service, R=READER, O=OPERATOR,
               OMAPIFO_AUDIT_LOG=str(tmp_path / "audit.log"),
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    printed = None
    for b in blocks(doc):
        if b.lang == "text" and b.after_command and printed is not None:
            missing = matches(b.body, printed)
            assert missing is None, (f"{doc.name}:{b.line}: the output has no line like\n"
                                     f"  {missing}\n--- it printed\n{printed}")
            continue
        if b.lang not in ("sh", "python") or b.skipped:
            printed = None
            continue
        argv = ["bash", "-e", "-o", "pipefail", "-c", b.body] if b.lang == "sh" else \
            [sys.executable, "-c", b.body]
        if b.user:
            argv = setpriv(b.user) + argv
        proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=240)
        assert proc.returncode == b.expect, (f"{doc.name}:{b.line}: exit {proc.returncode}, "
                                             f"wanted {b.expect}\n{b.body}\n--- stdout\n"
                                             f"{proc.stdout}\n--- stderr\n{proc.stderr}")
        printed = proc.stdout + proc.stderr
