"""The lab's configuration files written as `omapifo lab up` writes them, without a lab."""
from __future__ import annotations

from pathlib import Path

from omapifo.lab import Lab, LabSettings
from omapifo._states import Role


def write_lab_files(directory: Path, **settings: object) -> Lab:
    lab = Lab.create(LabSettings(prefix="cfgtest", **settings), directory)  # type: ignore[arg-type]
    lab.record.slots = [0]
    for role in Role:
        d = lab.server_dir(role)
        d.mkdir(parents=True, exist_ok=True)
        for r in Role:
            (d / f"dhcpd.conf-failover-{r}").write_text(lab.failover_block(r))
        (d / "dhcpd.conf-failover").symlink_to(f"dhcpd.conf-failover-{role}")
        lab.conf_path(role).write_text(lab.master_conf(role, "c2VjcmV0c2VjcmV0"))
    return lab
