"""The ``omapifo`` command.

Exit codes (the table is clients/exitcodes.py): 0 done, 1 refused or unhealthy, 2 usage or
configuration error, 3 a peer could not be reached (``omapifo check`` follows the
monitoring-plugins conventions instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from omapifo import (ConfigError, NotFound, OmapifoError, OperationRefused, PeerError, __version__,
                     configure_faults)

from . import output as out  # the library alone: error lines escaped without the extra
from .exitcodes import (CHECK_UNKNOWN, EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_INTERRUPTED,
                        EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE)

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
    from . import deploycli, drillcli, hostcli, keygencli, leasecli, maintenancecli, probecli
    from . import tokencli
    from .client import ApiAuthError, BadRequest
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] not in SERVICE_MODULES:
        raise  # not the extra: a broken installation, say so with the traceback
    _MISSING: str | None = exc.name
else:
    # The extra as a whole, found without importing it: the REST client does not load
    # Flask (omapifo.api imports its app when asked for), so without this a missing Flask
    # would only show when `serve` runs, after the command had seemed to be installed.
    _MISSING = next((m for m in SERVICE_MODULES if importlib.util.find_spec(m) is None), None)


def missing_extra_message(module: str) -> str:
    dist = SERVICE_MODULES.get(module.partition(".")[0], module)
    return (f"omapifo: the omapifo command needs omapifo's {SERVICE_EXTRA!r} extra, which "
            f"is not installed ({dist} is missing): pip install 'omapifo[{SERVICE_EXTRA}]'. "
            "`pip install omapifo` alone installs only the library.")


CONFIG_HELP = ("configuration file (default $OMAPIFO_CONFIG, then "
               "~/.config/omapifo/omapifo.toml, then /etc/omapifo/omapifo.toml; never the "
               "working directory)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omapifo", description="Read, check and operate ISC dhcpd failover pairs over OMAPI.")
    # no default here: omapifo/_config.py's find_config searches $OMAPIFO_CONFIG, then the user's
    # and the system's file, and its error names each (never the working directory)
    parser.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP)
    # the service's URL is each command's --api (default $OMAPIFO_API_URL); its token is the
    # same for every command, so it may come first (or after the command, as check has it)
    parser.add_argument("--token-file", metavar="FILE",
                        help="the REST service's token for --api, in a file only its owner "
                        "(and group) may read (default $OMAPIFO_TOKEN_FILE, or the token in "
                        "$OMAPIFO_TOKEN)")
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
    probecli.add_parser(sub)
    drillcli.add_parser(sub)
    deploycli.add_parser(sub)
    tokencli.add_parser(sub)
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
        # test-only fault injection (omapifo/_faults.py); unset in real use
        configure_faults(os.environ.get("OMAPIFO_FAULTS"))
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


class PluginParser(argparse.ArgumentParser):
    """A parser that answers bad usage as a monitoring plugin must: one UNKNOWN line on
    stdout and exit 3. argparse's own exit 2 would read as CRITICAL, and its message on
    stderr is not what Nagios shows."""

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split()[1:])  # one line: Nagios shows the first
        print(f"OMAPIFO UNKNOWN - {message} (usage: {usage})")
        sys.exit(CHECK_UNKNOWN)


def build_check_parser() -> argparse.ArgumentParser:
    """``check_omapifo``: ``omapifo check`` under the name a Nagios admin looks for
    (plugins are ``check_<what>`` in /usr/lib/nagios/plugins), the same options; the
    configuration is ``--config FILE`` only, since ``-c`` is the critical range."""
    holder = argparse.ArgumentParser(prog="check_omapifo").add_subparsers(
        parser_class=PluginParser)
    checkcli.add_parser(holder)
    parser: argparse.ArgumentParser = holder.choices["check"]
    parser.prog = "check_omapifo"
    parser.description = ("Nagios/Icinga plugin: a failover pair's state. Exit 0 OK, "
                          "1 WARNING, 2 CRITICAL, 3 UNKNOWN (omapifo check's options).")
    # its own --token-file is the check's (checkcli: SUPPRESS, for `omapifo --token-file`)
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    parser.set_defaults(token_file=None)
    return parser


def check_main(argv: Sequence[str] | None = None) -> int:
    """The ``check_omapifo`` console script (setup.cfg): ``omapifo check``'s ``cmd_check``."""
    if _MISSING is not None:
        print(f"OMAPIFO UNKNOWN - {missing_extra_message(_MISSING)}")
        return CHECK_UNKNOWN
    args = build_check_parser().parse_args(argv)
    configure_faults(os.environ.get("OMAPIFO_FAULTS"))  # test-only, as in main()
    try:
        return int(args.func(args))  # any failure to check is already UNKNOWN there
    except KeyboardInterrupt:
        return CHECK_UNKNOWN


if __name__ == "__main__":
    sys.exit(main())
