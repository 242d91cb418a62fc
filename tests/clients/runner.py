"""The command line run on the lab, straight over OMAPI or through the service: the
fixtures behind tests/clients/conftest.py, importable by tests elsewhere (which run it
straight over OMAPI: their ``cli_mode`` is "direct")."""
from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from omapifo import JsonLinesAudit, load_config
from omapifo.clients import cli, servecli
from omapifo.clients.client import Client

from ..api.conftest import OPERATOR, service_config


# read on this machine whatever the mode: they do not go with --api (clients/backend.py)
LOCAL_FILE_FLAGS = {"--leases", "--files", "--leases-dir"}


@pytest.fixture
def cli_mode() -> str:
    """Straight over OMAPI, unless tests/clients/conftest.py parametrizes it."""
    return "direct"


@pytest.fixture
def service_url(cli_mode: str, lab: Any, tmp_path: Any) -> Iterator[str | None]:
    """In the api mode, the service on the lab (operator token), stopped after the test."""
    if cli_mode == "direct":
        yield None
        return
    cfg = service_config(lab.config_path, tmp_path, tmp_path / "service.sqlite3")
    # a fresh read is a read now: the deployed default reuses one up to 1 s old (omapifo/_config.py,
    # fresh_min_age), and the tests look right after the lab changed a server
    cfg.write_text(cfg.read_text().replace("[service]\n", "[service]\nfresh_min_age = 0\n", 1))
    url, serve, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(serve)
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def run(cli_mode: str, service_url: str | None, lab: Any, tmp_path: Any, capsys: Any,
        monkeypatch: Any) -> Any:
    audit = tmp_path / "audit.log"
    monkeypatch.setenv("OMAPIFO_AUDIT_LOG", str(audit))
    if service_url:
        monkeypatch.setenv("OMAPIFO_TOKEN", OPERATOR)

    def run(*argv: str, config: str | None = None) -> tuple[int, str, str]:
        args = list(argv)
        if service_url and "--api" not in args and not LOCAL_FILE_FLAGS & set(args):
            args += ["--api", service_url]
        code = cli.main(["-c", config or str(lab.config_path), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def records() -> list[SimpleNamespace]:
        """The audit trail's records, oldest first (outcome as text, actor)."""
        if service_url is None:
            return [SimpleNamespace(outcome=str(r.outcome), actor=r.actor, action=r.action,
                                    reason=r.reason) for r in JsonLinesAudit(audit).records()]
        entries = Client(service_url, OPERATOR).audit(limit=100)["entries"]
        return [SimpleNamespace(outcome=e["outcome"], actor=e["actor"], action=e["action"],
                                reason=e["reason"]) for e in reversed(entries)]

    run.mode = cli_mode  # type: ignore[attr-defined]
    run.audit = audit  # type: ignore[attr-defined]
    run.records = records  # type: ignore[attr-defined]
    run.actor = "cli:" if service_url is None else "alice"  # type: ignore[attr-defined]
    return run
