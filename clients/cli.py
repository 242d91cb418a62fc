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

from omapifo import faults
from omapifo.errors import ConfigError, OmapifoError, OperationRefused, PeerError
from omapifo.lab import LabError

from .client import ApiAuthError, BadRequest
from . import checkcli, configcli, democli, labcli, paircli, servecli
from .exitcodes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omapifo", description="Read, check and operate ISC dhcpd failover pairs over OMAPI.")
    parser.add_argument("-c", "--config", default=os.environ.get("OMAPIFO_CONFIG"),
                        help="configuration file (default $OMAPIFO_CONFIG, ./omapifo.toml, "
                        "then /etc/omapifo/omapifo.toml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    paircli.add_parsers(sub)
    checkcli.add_parser(sub)
    configcli.add_parsers(sub)
    labcli.add_parser(sub)
    democli.add_parser(sub)
    servecli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # test-only fault injection (omapifo.faults); unset in real use
        faults.configure(os.environ.get("OMAPIFO_FAULTS"))
        return int(args.func(args) or EXIT_OK)
    except (ConfigError, LabError, BadRequest, ApiAuthError) as exc:
        print(f"omapifo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OperationRefused as exc:
        print(f"omapifo: refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except PeerError as exc:
        print(f"omapifo: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except OmapifoError as exc:
        print(f"omapifo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"omapifo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback only on request
        if os.environ.get("OMAPIFO_DEBUG"):
            raise
        print(f"omapifo: internal error ({type(exc).__name__}: {exc}); rerun with "
              "OMAPIFO_DEBUG=1 for the traceback and report it", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
