"""Running the lab's external commands (ip, tc, sysctl, dhcpd -t): a failure is a LabError."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import LabError


def run(*cmd: str, check: bool = True, timeout: float = 20,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; LabError naming it if it fails (``check``) or outlasts ``timeout``."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(cmd)}` did not finish within {timeout:g} s") from None
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc
