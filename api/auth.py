"""Bearer tokens: stored as SHA-256 digests, compared in constant time, each with a role.

``reader`` may GET; ``operator`` may also POST and read the audit trail. Tokens and
OMAPI secrets never appear in a response or a log line.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from omapifo import TokenConfig

@dataclass(frozen=True)
class Caller:
    name: str
    role: str

    @property
    def operator(self) -> bool:
        return self.role == "operator"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identify(header: str | None, tokens: tuple[TokenConfig, ...]) -> Caller | None:
    """The caller of an ``Authorization: Bearer ...`` header, or None."""
    if not header or not header.startswith("Bearer "):
        return None
    given = digest(header[len("Bearer "):].strip())
    found = None
    for tok in tokens:  # compare with every token: the time does not tell which matched
        if hmac.compare_digest(given, tok.sha256):
            found = tok
    return Caller(found.name, found.role) if found else None
