"""The registry: one record per lab in /run/omapifo-lab/PREFIX.json.

Everything ``up`` makes is written to the record *before* it is made (a process's pid
right after it starts), so ``down`` removes exactly that, even after a half-failed
``up``. The JSON on disk is the one the lab wrote when the record was a plain dict::

    {"prefix": ..., "dir": ..., "settings": {LabSettings' fields}, "slots": [..],
     "owner": pid, "namespaces": [..], "links": [..], "pids": {"dhcpd-primary": pid, ..}}
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .settings import LabSettings

REGISTRY = Path("/run/omapifo-lab")


@dataclass
class LabRecord:
    """What one lab has made (or is about to make), and who owns it."""

    prefix: str
    dir: Path
    settings: LabSettings
    slots: list[int] = field(default_factory=list)
    owner: int = 0  # the pid of the process that ran `up`: a test run's stale labs
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)  # "dhcpd-primary", "dhcrelay", ...

    @staticmethod
    def path(prefix: str) -> Path:
        return REGISTRY / f"{prefix}.json"

    @classmethod
    def load(cls, prefix: str) -> LabRecord:
        """The record of ``prefix``; FileNotFoundError if there is none, ValueError or
        KeyError if it is not a lab record."""
        return cls.from_json(json.loads(cls.path(prefix).read_text()))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabRecord:
        return cls(prefix=data["prefix"], dir=Path(data["dir"]),
                   settings=LabSettings(**data["settings"]), slots=list(data["slots"]),
                   owner=data.get("owner", 0), namespaces=list(data["namespaces"]),
                   links=list(data["links"]), pids=dict(data["pids"]))

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "dir": str(self.dir),
                "settings": dataclasses.asdict(self.settings), "slots": self.slots,
                "owner": self.owner, "namespaces": self.namespaces, "links": self.links,
                "pids": self.pids}

    def save(self) -> None:
        """Write the record atomically (a reader never sees half of it)."""
        REGISTRY.mkdir(parents=True, exist_ok=True)
        path = self.path(self.prefix)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2))
        tmp.replace(path)

    def delete(self) -> None:
        self.path(self.prefix).unlink(missing_ok=True)


@contextmanager
def registry_lock() -> Iterator[None]:
    """Held while a lab picks its slot, so two `up`s never take the same one."""
    REGISTRY.mkdir(parents=True, exist_ok=True)
    with open(REGISTRY / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def recorded_slots() -> set[int]:
    """The slots every recorded lab holds (also one whose `up` is still building it)."""
    used: set[int] = set()
    for state_file in REGISTRY.glob("*.json"):
        try:
            data = json.loads(state_file.read_text())
        except (OSError, ValueError):
            continue
        used.update(data.get("slots", []))
    return used
