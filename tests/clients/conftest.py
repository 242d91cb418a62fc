"""The command line's tests run each command twice: straight over OMAPI, and through the
REST service (``--api URL``), so one code path is checked against both implementations
of the pair contract (omapifo._contract.Pair: FailoverPair and RemotePair).

``run`` is the command line on the lab in the test's mode; ``run.records()`` the audit
trail the change went to (the JSON-lines file when direct, the service's store through
its API otherwise) and ``run.actor`` the start of who it names. A test that is about one
mode (it passes ``--api`` itself, or reads local files only) is marked ``direct_only``.
"""
from __future__ import annotations

import pytest

from .runner import run, service_url  # noqa: F401 - the fixtures, for every test here

MODES = ("direct", "api")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cli_mode" in metafunc.fixturenames:
        one = metafunc.definition.get_closest_marker("direct_only") is not None
        metafunc.parametrize("cli_mode", MODES[:1] if one else MODES)


