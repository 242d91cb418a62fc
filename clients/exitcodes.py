"""Every exit code of the ``omapifo`` command, in one table.

| code | most commands | ``omapifo check`` (monitoring plugins) | ``omapifo config check`` |
| ---: | --- | --- | --- |
| 0 | done | OK | clean (information only) |
| 1 | refused, or the pair is not healthy | WARNING | warnings |
| 2 | usage or configuration error | CRITICAL | critical findings |
| 3 | a peer could not be reached (dhcpd answering "not found" is 1) | UNKNOWN | - |
| 130 | interrupted (Ctrl-C) | | |
| 141 | the output's reader went away (``| head``), as SIGPIPE ends a command | | |

``check`` and ``config check`` exit with the worst Level's :attr:`~omapifo.Level.code`
(0 ok or info, 1 warning, 2 critical), the scale the library defines once; UNKNOWN is
``check``'s own: nothing could be rated.
"""
from __future__ import annotations

from omapifo import Finding, Level, worst_severity

# most commands
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell shows for a command killed by it

# omapifo check: a Level's code, or UNKNOWN
CHECK_UNKNOWN = 3
CHECK_NAMES = {0: "OK", 1: "WARNING", 2: "CRITICAL", CHECK_UNKNOWN: "UNKNOWN"}


def check_status(level: Level) -> int:
    """``omapifo check``'s exit status for a rating: 0 OK, 1 WARNING, 2 CRITICAL."""
    return level.code


def config_check(findings: list[Finding]) -> int:
    """``omapifo config check``'s exit code: 0 clean or information only, 1 warnings,
    2 critical findings."""
    return worst_severity(findings).code
