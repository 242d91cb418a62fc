"""``omapifo keygen FILE``: a new OMAPI key file, and the lines that use it.

The secret is random, base64 of the algorithm's digest size (16 bytes for HMAC-MD5, 32 for
HMAC-SHA256, 64 for HMAC-SHA512). The file is mode 0600, for its owner alone, unless
``--group NAME`` is given: then 0640 and that group, whose members may read it (the
Nagios plugin reads it as root:nagios, docs/install.md). Why not the user's primary group
by default: on hosts where that group is ``users``, every member would read the OMAPI
secret. An existing file is kept unless ``--force``. It prints the dhcpd.conf lines for both servers
and the omapifo.toml lines, so both sides get the same key.
"""
from __future__ import annotations

import argparse
import base64
import grp
import os
import re
import secrets
import tempfile
from pathlib import Path

from omapifo import ConfigError

from .exitcodes import EXIT_OK

# what keygen offers: hmac-sha1 is in omapifo/_omapi.py's ALGORITHMS for existing keys only
KEYGEN_ALGORITHMS = {"hmac-md5": 16, "hmac-sha256": 32, "hmac-sha512": 64}
DEFAULT_ALGORITHM = "hmac-sha256"
DEFAULT_KEY_NAME = "omapi_key"
MODE = 0o600  # the owner alone
GROUP_MODE = 0o640  # with --group: its members read it too
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # a dhcpd.conf identifier


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keygen", help="write a new OMAPI key file (mode 0600, or 0640 with "
                       "--group) and print the dhcpd.conf and omapifo.toml lines that use it")
    p.add_argument("key_file", metavar="FILE", help="where to write the base64 secret")
    p.add_argument("--algorithm", choices=sorted(KEYGEN_ALGORITHMS), default=DEFAULT_ALGORITHM,
                   help=f"HMAC algorithm (default {DEFAULT_ALGORITHM})")
    p.add_argument("--name", default=DEFAULT_KEY_NAME,
                   help=f"the key's name in dhcpd.conf (default {DEFAULT_KEY_NAME})")
    p.add_argument("--group", metavar="NAME", help="the file's group, which may read it "
                   "(mode 0640); without it the file is 0600, for you alone")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_keygen)


def new_secret(algorithm: str) -> str:
    """A random secret of the algorithm's digest size, base64 as dhcpd.conf writes it."""
    return base64.b64encode(secrets.token_bytes(KEYGEN_ALGORITHMS[algorithm])).decode()


def group_id(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(f"keygen: no group named {name!r}") from None


def write_key_file(path: Path, secret: str, gid: int | None, *, force: bool) -> None:
    """Write ``secret`` to ``path``: mode 0600, or with ``gid`` mode 0640 and that group;
    never readable by others on the way: a new file is made 0600 in the same directory,
    then (with ``gid``) chgrp and chmod 0640, and renamed over (only with ``force``) or
    linked to (refusing an existing one) the path."""
    path = path.absolute()
    if not force and (path.exists() or path.is_symlink()):
        raise ConfigError(f"keygen: {path} exists; omapifo keygen --force replaces it "
                          "(and every server using the old key must get the new one)")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
    except OSError as exc:
        raise ConfigError(f"keygen: cannot write in {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secret + "\n")
            fh.flush()
            if gid is not None:
                try:
                    os.fchown(fh.fileno(), -1, gid)
                except PermissionError:
                    raise ConfigError(f"keygen: cannot give {path} to group {gid_name(gid)} "
                                      "(only root, or a member of that group, can)") from None
            os.fchmod(fh.fileno(), MODE if gid is None else GROUP_MODE)
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the path appeared meanwhile: never overwrite
            except FileExistsError:
                raise ConfigError(f"keygen: {path} exists; omapifo keygen --force replaces "
                                  "it") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def gid_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def instructions(path: Path, name: str, algorithm: str, secret: str) -> str:
    """The dhcpd.conf lines for both servers and the omapifo.toml lines."""
    return "\n".join([
        "# dhcpd.conf, the same on both servers (it now holds the secret: keep it mode 640):",
        "omapi-port 7911;",
        f'key {name} {{ algorithm {algorithm}; secret "{secret}"; }};',
        f"omapi-key {name};",
        "",
        "# omapifo.toml, in the pair's [pairs.NAME] section:",
        f'key_name  = "{name}"',
        f'key_file  = "{path}"',
        f'algorithm = "{algorithm}"',
    ])


def cmd_keygen(args: argparse.Namespace) -> int:
    if not _KEY_NAME.fullmatch(args.name):
        raise ConfigError(f"keygen: --name {args.name!r}: use letters, digits, '_', '.' or "
                          "'-' (it is an identifier in dhcpd.conf)")
    path = Path(args.key_file).absolute()
    secret = new_secret(args.algorithm)
    gid = group_id(args.group) if args.group is not None else None
    write_key_file(path, secret, gid, force=args.force)
    readers = f"mode 640, group {gid_name(path.stat().st_gid)}" if gid is not None else \
        "mode 600, owner only"
    print(f"wrote {path} ({args.algorithm}, {readers})\n")
    print(instructions(path, args.name, args.algorithm, secret))
    return EXIT_OK
