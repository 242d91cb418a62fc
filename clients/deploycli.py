"""``omapifo deploy-files DIR``: write out the deploy files that ship in the package.

pip puts nothing outside site-packages, so the systemd unit, its tmpfiles.d snippet, the
Prometheus alerting rules and the Grafana dashboard ship as package data: setup.cfg maps
the repository's ``deploy/`` onto the package ``omapifo.deploy`` (one copy, in the
repository; the wheel's is built from it). This command writes them to DIR in ``deploy/``'s
layout (``DIR/systemd/omapifo.service``, ...), mode 0644, for the admin to install as
docs/install.md says. An existing file is kept unless ``--force``.

The unit's ``ExecStart=`` names ``/opt/omapifo/bin/omapifo`` (docs/install.md installs
there); written out, it names this installation's ``omapifo`` instead (or ``--command``),
since systemd needs the absolute path of a program that exists.
"""
from __future__ import annotations

import argparse
import os
import sysconfig
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from omapifo import ConfigError

from .exitcodes import EXIT_OK

PACKAGE = "omapifo.deploy"
UNIT = PurePosixPath("systemd/omapifo.service")
SHIPPED_COMMAND = "/opt/omapifo/bin/omapifo"  # the unit's ExecStart program, as shipped
MODE = 0o644
# not deploy files: the package's own __init__.py, and promtool's rule tests (the wheel
# leaves them out too: setup.cfg, exclude_package_data)
_SKIP_DIRS = {"__pycache__", "tests"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy-files", help="write the systemd unit, tmpfiles.d snippet, "
                       "Prometheus rules and Grafana dashboard that ship with omapifo to DIR")
    p.add_argument("directory", metavar="DIR", help="where to write them (made if missing)")
    p.add_argument("--command", metavar="PATH", help="the omapifo program the unit's "
                   "ExecStart runs (default: this installation's)")
    p.add_argument("--force", action="store_true", help="replace files that exist")
    p.set_defaults(func=cmd_deploy_files)


def deploy_files() -> dict[PurePosixPath, bytes]:
    """Every deploy file that ships, by its path under ``deploy/``."""
    out: dict[PurePosixPath, bytes] = {}

    def walk(node: Traversable, rel: PurePosixPath) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                if child.name not in _SKIP_DIRS:
                    walk(child, rel / child.name)
            elif child.is_file() and not (rel == PurePosixPath() and child.name.endswith(
                    (".py", ".pyc"))):
                out[rel / child.name] = child.read_bytes()

    walk(resources.files(PACKAGE), PurePosixPath())
    return out


def installed_command() -> Path | None:
    """This installation's ``omapifo`` program: where pip put the console scripts of the
    running interpreter (a venv's ``bin/``), if it is there."""
    path = Path(sysconfig.get_path("scripts")) / "omapifo"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def with_command(unit: str, command: str) -> str:
    """The unit with its ExecStart running ``command`` instead of the shipped path."""
    lines = unit.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("ExecStart=")]
    if len(starts) != 1 or not lines[starts[0]].startswith(f"ExecStart={SHIPPED_COMMAND} "):
        raise ConfigError("deploy-files: the shipped unit has no single "
                          f"ExecStart={SHIPPED_COMMAND} line to adapt (a broken installation)")
    i = starts[0]
    lines[i] = f"ExecStart={command}" + lines[i][len(f"ExecStart={SHIPPED_COMMAND}"):]
    return "".join(lines)


def write_file(path: Path, data: bytes, *, force: bool) -> None:
    """``data`` to ``path``, mode 0644, complete or not at all: a temporary file in the same
    directory, renamed over the path (``force``) or linked to it, which fails if the path
    exists, so a file that appeared meanwhile is never replaced. A symlink at the path is
    replaced, never followed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), MODE)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise ConfigError(f"deploy-files: {path} exists; --force replaces it") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def cmd_deploy_files(args: argparse.Namespace) -> int:
    target = Path(args.directory).absolute()
    if args.command is not None and not os.path.isabs(args.command):
        raise ConfigError(f"deploy-files: --command {args.command!r}: give an absolute path "
                          "(systemd runs ExecStart= programs by their full path)")
    found = installed_command()
    command = args.command or (str(found) if found else None)
    files = deploy_files()
    if UNIT in files and command is not None:
        files[UNIT] = with_command(files[UNIT].decode(), command).encode()
    paths = {rel: target.joinpath(*rel.parts) for rel in files}
    if not args.force:
        there = [str(p) for p in paths.values() if os.path.lexists(p)]
        if there:
            raise ConfigError(f"deploy-files: {', '.join(there)} already there; nothing "
                              "written (--force replaces them)")
    try:
        for rel, data in files.items():
            paths[rel].parent.mkdir(parents=True, exist_ok=True)
            write_file(paths[rel], data, force=args.force)
    except OSError as exc:
        raise ConfigError(f"deploy-files: cannot write in {target}: {exc.strerror}") from None
    for rel, path in paths.items():
        note = ""
        if rel == UNIT:
            note = (f" (ExecStart runs {command}"
                    f"{'' if args.command else ': this installation'})" if command else
                    f" (ExecStart runs {SHIPPED_COMMAND}: no omapifo program found beside "
                    "this Python; --command sets it)")
        print(f"wrote {path}{note}")
    return EXIT_OK
