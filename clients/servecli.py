"""``omapifo serve``: the REST service under waitress (a production WSGI server)."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

from omapifo import Config, load_config

log = logging.getLogger("omapifo.serve")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the REST service (health polling, history, audit)")
    p.add_argument("--listen", help="HOST:PORT (default: [service] listen, 127.0.0.1:8067)")
    p.add_argument("--threads", type=int, default=8)
    p.set_defaults(func=cmd_serve)


def start(config: Config, listen: str | None = None,
          threads: int = 8) -> tuple[str, Callable[[], None], Callable[[], None]]:
    """Create the app and a waitress server; returns (url, run, stop)."""
    url, run, stop, _ = start_service(config, listen, threads)
    return url, run, stop


def start_service(config: Config, listen: str | None = None, threads: int = 8
                  ) -> tuple[str, Callable[[], None], Callable[[], None], Any]:
    """:func:`start`, plus the app's Service (``app.extensions["omapifo"]``)."""
    from waitress.server import create_server

    from omapifo.api import create_app
    from omapifo.api.app import MAX_BODY

    if listen:  # the service answers to the address it listens on (allowed_hosts)
        config = dataclasses.replace(config, service=dataclasses.replace(
            config.service, listen=listen))
    app = create_app(config, poll=True)
    host, _, port = config.service.listen.rpartition(":")
    # waitress reads a whole body before the app (and its 401 or 413) sees the request,
    # and allows 1 GiB by default: an unauthenticated POST with Content-Length: 1000000000
    # had ~950 MiB read before any answer. Its limit is the app's: waitress refuses a
    # Content-Length >= the limit (parser.py), Flask one > MAX_BODY, hence the + 1.
    server = create_server(app, host=host or "127.0.0.1", port=int(port), threads=threads,
                           # trusted_proxies: ProxyFix in the app reads them
                           clear_untrusted_proxy_headers=not config.service.trusted_proxies,
                           max_request_body_size=MAX_BODY + 1)
    url = f"http://{server.effective_host}:{server.effective_port}"

    looping = threading.Event()  # set while run() is in waitress's loop

    def run() -> None:
        looping.set()
        try:
            server.run()
        finally:
            looping.clear()

    def stop() -> None:
        if looping.is_set():
            # waitress has no thread-safe stop: closing its sockets from this thread while
            # its loop sat in select() failed that select with EBADF (seen in CI). Its
            # trigger runs a callable on the loop's own thread (waitress/trigger.py).
            closed = threading.Event()
            try:
                server.trigger.pull_trigger(lambda: (server.close(), closed.set()))
            except OSError:  # the trigger is already closed: the loop is ending by itself
                with contextlib.suppress(OSError):
                    server.close()
            else:
                closed.wait(5)
        else:
            server.close()
        server.task_dispatcher.shutdown()
        app.extensions["omapifo"].close()

    return url, run, stop, app.extensions["omapifo"]


def sd_notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to systemd's notification socket, if
    ``$NOTIFY_SOCKET`` names one; False when not under systemd (or it could not be sent).

    By hand rather than a package: sd_notify(3) documents the protocol as one datagram of
    newline-separated assignments on the AF_UNIX socket in $NOTIFY_SOCKET (a leading "@"
    is the abstract namespace); these lines are all of it, and the PyPI wrappers
    (sdnotify, systemd-python) add a dependency, or a C build, for them."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False  # unset, or a vsock address (VMs), which this service does not use
    if address[0] == "@":
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.error("could not notify systemd at %s: %s", env["NOTIFY_SOCKET"], exc)
        return False
    return True


def notify_when_ready(app_service: Any, stopping: threading.Event) -> threading.Thread:
    """Tell systemd READY=1 once the poller's first poll of every pair has ended
    (Type=notify): `systemctl start` returns, and units ordered after omapifo start, only
    when the service can answer with a state."""
    first_round = app_service.poller.first_round

    def wait() -> None:
        while not stopping.is_set():
            if first_round.wait(0.5):
                sd_notify(f"READY=1\nSTATUS=polled all {len(app_service.pairs)} pair(s)")
                return

    t = threading.Thread(target=wait, name="omapifo-notify", daemon=True)
    t.start()
    return t


def cmd_serve(args: argparse.Namespace) -> int:
    from omapifo.api import logs

    config = load_config(args.config)
    logs.configure(config.service.log_level, config.service.log_format)
    url, run, stop, service = start_service(config, args.listen, args.threads)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    stopping = threading.Event()
    notify_when_ready(service, stopping)
    # a log line, not a print: under systemd it reaches the journal in the configured format
    log.info("omapifo serving %d pair(s) on %s with database %s (Ctrl-C stops)",
             len(config.pairs), url, service.database)
    try:
        run()
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        sd_notify("STOPPING=1")
        stop()
    return 0


def run_in_thread(run: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=run, name="omapifo-waitress", daemon=True)
    t.start()
    return t


