"""Fixtures for the REST service: the app on the session's lab pair, with two tokens."""
from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from omapifo import Config, load_config
from omapifo.api import create_app
from omapifo.api.auth import digest
from omapifo._config import parse_config

READER, OPERATOR = "reader-token-for-tests", "operator-token-for-tests"
POLL = 1.0
OFFLINE_KEY = base64.b64encode(b"x" * 16).decode()


def service_config(lab_config: Path, directory: Path, database: Path) -> Path:
    """The lab's omapifo.toml plus a [service] section, written next to a copy of its key."""
    shutil.copy2(lab_config.parent / "omapi.key", directory / "omapi.key")
    text = lab_config.read_text()
    for key in ('dhcpd_conf = "', 'dhcpd_leases = "'):  # and secondary_...: the lab's, absolute
        text = text.replace(key, f'{key}{lab_config.parent}/')
    text += (f'\n[service]\npoll_interval = {POLL}\ndatabase = "{database}"\n'
             f'[[service.tokens]]\nname = "noc"\nrole = "reader"\nsha256 = "{digest(READER)}"\n'
             f'[[service.tokens]]\nname = "alice"\nrole = "operator"\n'
             f'sha256 = "{digest(OPERATOR)}"\n')
    path = directory / "omapifo.toml"
    path.write_text(text)
    return path


def offline_config(database: Path, primary: str = "127.0.0.1:9") -> Config:
    """Pair "p" on loopback ports where no OMAPI answers (closed ones by default: every
    request fails fast and cleanly), with the two test tokens; no lab needed."""
    return parse_config({
        "pairs": {"p": {"primary": primary, "secondary": "127.0.0.1:10", "key_name": "k",
                        "key": OFFLINE_KEY, "timeout": 0.3}},
        "service": {"database": str(database), "tokens": [
            {"name": "noc", "role": "reader", "sha256": digest(READER)},
            {"name": "alice", "role": "operator", "sha256": digest(OPERATOR)}]}})


@pytest.fixture
def service_cfg(lab, tmp_path: Path) -> Path:
    return service_config(lab.config_path, tmp_path, tmp_path / "omapifo.sqlite3")


@pytest.fixture
def app(service_cfg: Path) -> Iterator[Flask]:
    app = create_app(load_config(service_cfg), poll=True)
    yield app
    app.extensions["omapifo"].close()


def wait_for(check, timeout: float, step: float = 0.2):
    """``check()``'s first true value within ``timeout`` seconds, else its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
