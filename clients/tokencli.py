"""``omapifo token new``: a token for the REST service, and the lines that let it in.

The service keeps no token, only its SHA-256 (api/auth.py compares the digest of the
bearer token with ``[[service.tokens]] sha256``), so the token itself exists only in what
this command prints: on stdout, alone on its line, so that ``> FILE`` keeps it in a file
for ``--token-file`` (under ``umask 077``, or ``027`` for a ``root:nagios`` file) while the
lines to paste into the service's configuration, which hold only the digest, go to stderr
and stay on the terminal. Nothing is written anywhere else: the configuration file is
root's to edit, and a command that rewrote it would also rewrite its comments.
"""
from __future__ import annotations

import argparse
import re
import secrets
import sys
from datetime import datetime, timezone

from omapifo.api.auth import digest  # the service's own: the digest it compares
from omapifo import ConfigError

from .exitcodes import EXIT_OK

# 32 random bytes, 43 URL-safe characters (secrets' docs: 32 bytes is ample against
# guessing); URL-safe so it needs no quoting in a header, a shell or a file
TOKEN_BYTES = 32
ROLES = ("reader", "operator")
# the name is the actor of every change in the audit trail and goes into a TOML string as
# it is: letters, digits and a few separators, nothing to escape in TOML or a log line
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("token", help="make a token for the REST service")
    tsub = p.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    new = tsub.add_parser("new", help="make a token, show it once and print the "
                          "[[service.tokens]] lines (its SHA-256) to paste; writes nothing")
    new.add_argument("--role", choices=ROLES, default="reader",
                     help="reader (GET only; the default) or operator (also changes and the "
                     "audit trail)")
    new.add_argument("--name", help="who uses it, as the audit trail names them (letters, "
                     "digits, '_', '.', '@', '-'; default ROLE-DATE-XXXX)")
    new.set_defaults(func=cmd_token_new)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def config_lines(name: str, role: str, token: str) -> str:
    """The ``[[service.tokens]]`` entry for ``token``: its digest, never the token."""
    return "\n".join(["[[service.tokens]]", f'name = "{name}"', f'role = "{role}"',
                      f'sha256 = "{digest(token)}"'])


def default_name(role: str, now: datetime | None = None) -> str:
    when = (now or datetime.now(timezone.utc)).strftime("%Y%m%d")
    return f"{role}-{when}-{secrets.token_hex(2)}"


def cmd_token_new(args: argparse.Namespace) -> int:
    name = args.name if args.name is not None else default_name(args.role)
    if not _NAME.fullmatch(name):
        raise ConfigError(f"token new: --name {name!r}: use 1 to 64 letters, digits, '_', '.', "
                          "'@' or '-', starting with a letter or digit (it names the caller "
                          "in the audit trail)")
    token = new_token()
    print(f"# a {args.role} token named {name!r}. The service keeps only its SHA-256: paste "
          "these lines into\n# [service] of its omapifo.toml and restart it (systemctl "
          "restart omapifo):", file=sys.stderr)
    print(config_lines(name, args.role, token), file=sys.stderr)
    print("# the token, shown this once (on stdout; `> FILE` keeps it for --token-file):",
          file=sys.stderr, flush=True)
    print(token, flush=True)
    return EXIT_OK
