"""`omapifo serve`'s start/stop: stopping from another thread ends waitress's loop cleanly."""
from __future__ import annotations

import base64
import threading

import requests

from omapifo.clients import servecli
from omapifo.config import parse_config


def test_stop_from_another_thread_ends_the_loop_without_an_exception(tmp_path):
    cfg = parse_config({
        # closed loopback ports: polls fail fast; this test is about the server
        "pairs": {"p": {"primary": "127.0.0.1:9", "secondary": "127.0.0.1:10",
                        "key_name": "k", "key": base64.b64encode(b"x" * 16).decode(),
                        "timeout": 0.3}},
        "service": {"database": str(tmp_path / "db.sqlite3")}})
    died: list[BaseException] = []
    hook, threading.excepthook = threading.excepthook, lambda a: died.append(a.exc_value)
    try:
        for _ in range(5):  # the EBADF race CI once hit was timing-dependent
            url, run, stop = servecli.start(cfg, "127.0.0.1:0")
            loop = servecli.run_in_thread(run)
            assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
            stop()
            loop.join(timeout=10)
            assert not loop.is_alive(), "waitress's loop still runs after stop()"
    finally:
        threading.excepthook = hook
    assert not died, died
