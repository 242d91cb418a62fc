"""``omapifo serve``: the REST service under waitress (a production WSGI server)."""
from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Callable

from omapifo import Config, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the REST service (health polling, history, audit)")
    p.add_argument("--listen", help="HOST:PORT (default: [service] listen, 127.0.0.1:8067)")
    p.add_argument("--threads", type=int, default=8)
    p.set_defaults(func=cmd_serve)


def start(config: Config, listen: str | None = None,
          threads: int = 8) -> tuple[str, Callable[[], None], Callable[[], None]]:
    """Create the app and a waitress server; returns (url, run, stop)."""
    from waitress.server import create_server

    from omapifo.api import create_app
    from omapifo.api.app import MAX_BODY

    app = create_app(config, poll=True)
    host, _, port = (listen or config.service.listen).rpartition(":")
    # waitress reads a whole body before the app (and its 401 or 413) sees the request,
    # and allows 1 GiB by default: an unauthenticated POST with Content-Length: 1000000000
    # had ~950 MiB read before any answer. Its limit is the app's: waitress refuses a
    # Content-Length >= the limit (parser.py), Flask one > MAX_BODY, hence the + 1.
    server = create_server(app, host=host or "127.0.0.1", port=int(port), threads=threads,
                           clear_untrusted_proxy_headers=True,
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

    return url, run, stop


def cmd_serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    url, run, stop = start(config, args.listen, args.threads)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"omapifo serving {len(config.pairs)} pair(s) on {url} (Ctrl-C stops)", flush=True)
    try:
        run()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0


def run_in_thread(run: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=run, name="omapifo-waitress", daemon=True)
    t.start()
    return t


