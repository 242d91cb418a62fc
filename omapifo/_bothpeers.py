"""One object (a lease, a host) as both peers of a pair see it: the one shape of a view.

dhcpd keeps a lease on each peer and a host reservation on each peer separately (hosts
are not even replicated), so every look-up reads both (:mod:`omapifo._lookups`, one read
loop) and the view says what each holds, what failed where (``errors`` and
``evidence``, keyed by :class:`Role`), and where the two differ.
"""
from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from ._evidence import Evidence
from ._states import Role

T = TypeVar("T")


class BothPeers(Generic[T]):
    """What a view of one object on both peers offers; a frozen dataclass with these
    fields (after its key) is one: :class:`~omapifo.LeaseView`,
    :class:`~omapifo.HostView`."""

    primary: T | None  # None: not there (or that peer could not be read: errors)
    secondary: T | None
    errors: dict[Role, str]
    evidence: dict[Role, Evidence]  # what each peer's read told; empty when from JSON
    MUST_AGREE: ClassVar[tuple[str, ...]]  # the fields the two copies must share
    MISSING: ClassVar[str]  # "does not know this lease": what a copy missing on one is

    def peer(self, role: Role | str) -> T | None:
        return self.primary if Role.parse(role) is Role.PRIMARY else self.secondary

    @property
    def differences(self) -> tuple[str, ...]:
        p, s = self.primary, self.secondary
        if p is None or s is None:
            missing = "primary" if p is None else "secondary"
            return (f"the {missing} {self.MISSING}",) if (p or s) else ()
        return tuple(f"{name}: primary {getattr(p, name)}, secondary {getattr(s, name)}"
                     for name in self.MUST_AGREE if getattr(p, name) != getattr(s, name))

    @property
    def agree(self) -> bool:
        """Both peers hold it, and the same: a client gets the same answer from either."""
        return self.primary is not None and self.secondary is not None and not self.differences
