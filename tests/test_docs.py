"""Every shell and Python example in docs/ runs against the lab, so the docs cannot rot.

A fenced ```sh or ```python block runs as written, in file order, with the environment
the docs explain: OMAPIFO_CONFIG and OMAPIFO_LAB_PREFIX for the lab, URL, R and O for the
REST service. A block must exit 0, unless its first line is ``# exit N``; a block whose
first line starts with ``# not run`` is skipped (it says why). The lab is restored to two
normal servers before each file.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from omapifo import load_config
from omapifo.clients import servecli

from .api.conftest import OPERATOR, READER, service_config
from .conftest import restore

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)


def blocks(path: Path) -> list[tuple[str, str, int]]:
    out = []
    for m in BLOCK.finditer(path.read_text()):
        lang, body = m.group(1), m.group(2)
        first = body.lstrip().splitlines()[0] if body.strip() else ""
        if first.startswith("# not run"):
            continue
        expect = int(first.split()[2]) if first.startswith("# exit ") else 0
        out.append((lang, body, expect))
    return out


DOC_FILES = sorted(p for p in DOCS.glob("*.md") if blocks(p))


def test_every_doc_with_examples_is_collected():
    names = {p.name for p in DOC_FILES}
    assert {"quickstart.md", "runbook.md", "rest.md", "cli.md", "library.md",
            "monitoring.md", "config-check.md", "lab.md"} <= names, names


@pytest.fixture(scope="module")
def service(lab, tmp_path_factory):
    d = tmp_path_factory.mktemp("docs-service")
    cfg = service_config(lab.config_path, d, d / "db.sqlite3")
    url, run, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(run)
    yield url
    stop()


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_examples_run(doc, lab, service, tmp_path):
    restore(lab)
    env = dict(os.environ, OMAPIFO_CONFIG=str(lab.config_path),
               OMAPIFO_LAB_PREFIX=lab.settings.prefix, URL=service, R=READER, O=OPERATOR,
               OMAPIFO_AUDIT_LOG=str(tmp_path / "audit.log"),
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    for lang, body, expect in blocks(doc):
        argv = ["bash", "-e", "-o", "pipefail", "-c", body] if lang == "sh" else \
            [sys.executable, "-c", body]
        proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=240)
        assert proc.returncode == expect, (f"{doc.name}: exit {proc.returncode}, wanted "
                                           f"{expect}\n{body}\n--- stdout\n{proc.stdout}\n"
                                           f"--- stderr\n{proc.stderr}")
    restore(lab)
