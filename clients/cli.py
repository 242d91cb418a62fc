"""The ``omapifo`` command.

Exit codes (the table is clients/exitcodes.py): 0 done, 1 refused or unhealthy, 2 usage or
configuration error, 3 a peer could not be reached (``omapifo check`` follows the
monitoring-plugins conventions instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from omapifo import __version__, faults
from omapifo.errors import ConfigError, NotFound, OmapifoError, OperationRefused, PeerError

from . import output as out  # the library alone: error lines escaped without the extra
from .exitcodes import (EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK,
                        EXIT_UNREACHABLE, EXIT_USAGE)

# The command needs the `service` extra (setup.cfg, docs/packaging.md): `pip install omapifo`
# installs only the library. Each module the extra brings, and the distribution it comes from
# (tests/test_packaging.py checks this equals the extra's list).
SERVICE_EXTRA = "service"
SERVICE_MODULES = {
    "flask": "Flask",
    "flask_smorest": "flask-smorest",
    "apscheduler": "APScheduler",
    "prometheus_client": "prometheus_client",
    "requests": "requests",
    "waitress": "waitress",
}

try:
    from omapifo.lab import LabError

    from . import checkcli, completion, configcli, democli, labcli, paircli, servecli
    from . import deploycli, hostcli, keygencli, leasecli, maintenancecli
    from .client import ApiAuthError, BadRequest
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] not in SERVICE_MODULES:
        raise  # not the extra: a broken installation, say so with the traceback
    _MISSING: str | None = exc.name
else:
    _MISSING = None


def missing_extra_message(module: str) -> str:
    dist = SERVICE_MODULES.get(module.partition(".")[0], module)
    return (f"omapifo: the omapifo command needs omapifo's {SERVICE_EXTRA!r} extra, which "
            f"is not installed ({dist} is missing): pip install 'omapifo[{SERVICE_EXTRA}]'. "
            "`pip install omapifo` alone installs only the library.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omapifo", description="Read, check and operate ISC dhcpd failover pairs over OMAPI.")
    parser.add_argument("-c", "--config", default=os.environ.get("OMAPIFO_CONFIG"),
                        help="configuration file (default $OMAPIFO_CONFIG, ./omapifo.toml, "
                        "then /etc/omapifo/omapifo.toml)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    paircli.add_parsers(sub)
    leasecli.add_parsers(sub)  # `lease list` and `lease find`, beside paircli's show/release
    checkcli.add_parser(sub)
    configcli.add_parsers(sub)
    labcli.add_parser(sub)
    democli.add_parser(sub)
    servecli.add_parser(sub)
    completion.add_parser(sub)
    keygencli.add_parser(sub)
    hostcli.add_parser(sub)
    maintenancecli.add_parser(sub)
    deploycli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if _MISSING is not None:
        if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
            print(f"omapifo {__version__}")  # what is installed: worth knowing right now
            return EXIT_OK
        print(missing_extra_message(_MISSING), file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # test-only fault injection (omapifo.faults); unset in real use
        faults.configure(os.environ.get("OMAPIFO_FAULTS"))
        return int(args.func(args) or EXIT_OK)
    except (ConfigError, LabError, BadRequest, ApiAuthError) as exc:
        out.say(f"omapifo: {exc}", sys.stderr)
        return EXIT_USAGE
    except OperationRefused as exc:
        out.say(f"omapifo: refused: {exc}", sys.stderr)
        return EXIT_FAILED
    except NotFound as exc:  # dhcpd answered: no such object (a PeerError, but not unreachable)
        out.say(f"omapifo: {exc}", sys.stderr)
        return EXIT_FAILED
    except PeerError as exc:
        out.say(f"omapifo: {exc}", sys.stderr)
        return EXIT_UNREACHABLE
    except OmapifoError as exc:
        out.say(f"omapifo: {exc}", sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        out.say(f"omapifo: {exc}", sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`omapifo lease list | head`): end quietly, as a command
        # killed by SIGPIPE does; stdout goes to /dev/null so the interpreter's own flush at
        # exit does not complain again (Python's signal docs, "Note on SIGPIPE")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback only on request
        if os.environ.get("OMAPIFO_DEBUG"):
            raise
        out.say(f"omapifo: internal error ({type(exc).__name__}: {exc}); rerun with "
                "OMAPIFO_DEBUG=1 for the traceback and report it", sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
