"""`omapifo serve`'s start/stop: stopping from another thread ends waitress's loop cleanly."""
from __future__ import annotations

import threading

import requests

from omapifo.clients import servecli

from ..api.conftest import offline_config


def test_stop_from_another_thread_ends_the_loop_without_an_exception(tmp_path):
    cfg = offline_config(tmp_path / "db.sqlite3")  # this test is about the server
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
